"""`quotebot telegram` as a real process, long-polling over HTTP against the local Bot API stub."""

import os
import signal
import subprocess
import sys

import pytest

from tests.support.botapi_stub import BotApiStub

TOKEN = "987654:SECRET-token-never-logged"
USER = 777


@pytest.fixture
def stub():
    with BotApiStub(TOKEN) as stub:
        yield stub


def start_bot(stub: BotApiStub, db, **env) -> subprocess.Popen:
    environment = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": stub.base_url,
        "QUOTEBOT_DB": str(db),
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "telegram"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def texts(stub):
    return [s.text for s in stub.sent(USER)]


def test_telegram_polling_quote_survives_a_kill_and_a_redelivery(stub, db):
    """/start → quote → premiums over HTTP, the process SIGKILLed midway and an update resent."""
    bot = start_bot(stub, db)
    try:
        stub.push_message(USER, "/start")
        menu = stub.wait_for_sent(USER, 1, timeout=20)[-1]
        stub.push_callback(USER, menu.message_id, "menu.start.quote")
        stub.wait_for_sent(USER, 2)
        revenue = stub.push_message(USER, "3億")
        industry = stub.wait_for_sent(USER, 3)[-1]
        assert "300,000,000円" in industry.text
        stub.push_raw(stub.pending_update(revenue))  # Telegram redelivers the same update
        stub.push_callback(USER, industry.message_id, "quote.industry.retail")
        channels = stub.wait_for_sent(USER, 4)[-1]
        assert "販売チャネル" in channels.text
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait(timeout=10)

    restarted = start_bot(stub, db)
    try:
        stub.push_callback(
            USER, channels.message_id, stub.button(USER, channels.message_id, "quote.channels.rakuten")
        )
        stub.wait_for(lambda s: "✅" in str(s.message(USER, channels.message_id)["reply_markup"]), timeout=20)
        stub.push_callback(
            USER, channels.message_id, stub.button(USER, channels.message_id, "quote.channels.done")
        )
        result = stub.wait_for_sent(USER, 6)
        joined = "\n".join(s.text for s in result)
        assert "月額 <b>3,500円</b>" in joined and "月額 <b>7,500円</b>" in joined
        assert sum("2/3" in t for t in texts(stub)) == 1  # the redelivered 3億 was not processed again
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=15) == 0
    finally:
        if restarted.poll() is None:
            restarted.kill()
        _, stderr = restarted.communicate(timeout=10)
    assert TOKEN not in stderr and "SECRET" not in stderr


def test_telegram_missing_token_is_one_line_and_exit_2(tmp_path):
    """Without TELEGRAM_BOT_TOKEN the command says so in one line on stderr and exits 2."""
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    run = subprocess.run(
        [sys.executable, "-m", "bot", "telegram", "--db", str(tmp_path / "x.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "TELEGRAM_BOT_TOKEN" in run.stderr


def test_telegram_polling_process_alerts_staff_at_once(stub, db):
    """The running process's outbox worker sends the incident alert to the staff group unprompted."""
    staff = -100123
    stub.add_chat(staff, chat_type="supergroup", title="Support", is_forum=True)
    bot = start_bot(stub, db, TELEGRAM_STAFF_CHAT_ID=str(staff))
    try:
        stub.push_message(USER, "ランサムウェアに感染しました")
        first_aid = stub.wait_for_sent(USER, 1, timeout=20)[0]
        assert "0120-258-189" in first_aid.text and "担当スタッフにも通知しました" in first_aid.text
        (alert,) = stub.wait_for_sent(staff, 1, timeout=20)
        assert "🚨" in alert.text and "I-" in alert.text
    finally:
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(timeout=15) == 0


def test_telegram_polling_kill_between_commit_and_send_delivers_the_reply_once(stub, db):
    """The turn is committed but its send hangs; kill -9; after the restart (sends healthy) the
    reply arrives from the outbox, exactly once, and the update is not handled again."""
    stub.hold("sendMessage")
    bot = start_bot(stub, db)
    try:
        update = stub.push_message(USER, "/quote")
        stub.wait_for(lambda s: s.held_waiting("sendMessage") >= 1, timeout=20, what="the reply's send")
        stub.wait_until_confirmed(update, timeout=20)  # the inbox has it: Telegram was told
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait(timeout=10)
    stub.release("sendMessage", answer=False)  # that request never reached Telegram
    assert stub.sent(USER) == []

    restarted = start_bot(stub, db)
    try:
        (reply,) = stub.wait_for_sent(USER, 1, timeout=20)
        assert "1/3 年間売上高" in reply.text
        stub.push_message(USER, "3億")  # the conversation goes on from where it was
        industry = stub.wait_for_sent(USER, 2, timeout=20)[-1]
        assert "300,000,000円" in industry.text
        assert sum("1/3" in t for t in texts(stub)) == 1
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=15) == 0
    finally:
        if restarted.poll() is None:
            restarted.kill()
        restarted.communicate(timeout=10)
