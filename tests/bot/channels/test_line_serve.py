"""End to end: the real `quotebot serve` process, the LINE API stub, and the Bot API stub as the
staff desk. A forged webhook, a quote across a kill -9, a redelivered event, an incident with its
record link fetched, and a hand-off to staff and back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from bot.turn import parse_tap
from tests.bot.test_web import free_port, wait_listening
from tests.support.botapi_stub import BotApiStub
from tests.support.line_stub import LineApiStub

USER = "U" + "e2" * 16
STAFF = -100777
TG_TOKEN = "777:E2E-telegram-token"


@pytest.fixture
def stubs():
    with LineApiStub("e2e-channel-secret", "e2e-access-token") as line, BotApiStub(TG_TOKEN) as telegram:
        line.add_user(USER, "佐藤 商店", "ja")
        telegram.add_chat(STAFF, chat_type="supergroup", title="Support", is_forum=True)
        yield line, telegram


class Serve:
    def __init__(self, line: LineApiStub, telegram: BotApiStub, db: str):
        self.line, self.telegram, self.db = line, telegram, db
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.webhook = self.base + "/webhooks/line"
        self.process: subprocess.Popen | None = None
        self.logs: list[str] = []

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "LINE_", "QUOTEBOT_"))}
        env.update(
            QUOTEBOT_DB=self.db,
            QUOTEBOT_LISTEN=f"127.0.0.1:{self.port}",
            QUOTEBOT_PUBLIC_URL=self.base,
            LINE_CHANNEL_SECRET=self.line.channel_secret,
            LINE_CHANNEL_ACCESS_TOKEN=self.line.access_token,
            LINE_API_BASE_URL=self.line.base_url,
            TELEGRAM_BOT_TOKEN=TG_TOKEN,
            TELEGRAM_API_BASE_URL=self.telegram.base_url,
            TELEGRAM_STAFF_CHAT_ID=str(STAFF),
            QUOTEBOT_STAFF_HOURS="00:00-23:59",
            QUOTEBOT_STAFF_DAYS="mon-sun",
            QUOTEBOT_STAFF_CLOSED="none",
            QUOTEBOT_STAFF_HOLIDAYS="none",
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], env=env, stderr=subprocess.PIPE, text=True
        )
        wait_listening(self.port, self.process)

    def kill(self, sig: int = signal.SIGKILL) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self.logs.append(self.process.stderr.read())
        return code

    def send(self, event: dict, count: int = 1, timeout: float = 20) -> list:
        """Post one signed event; wait until `count` more messages reached the user."""
        before = len(self.line.delivered(USER))
        status, _ = self.line.post_webhook(self.webhook, [event])
        assert status == 200
        if count == 0:
            return []
        return self.line.wait_for_delivered(USER, before + count, timeout)[before:]

    def tokens(self) -> list[str]:
        for delivered in reversed(self.line.delivered(USER)):
            found = [a["data"] for a in delivered.actions if a.get("type") == "postback"]
            if found:
                return found
        return []

    def tap(self, ending: str, count: int = 1) -> list:
        token = next(
            (t for t in self.tokens() if t.endswith("." + ending) or parse_tap(t)[2] == ending), None
        )
        assert token, f"no button .{ending} among {self.tokens()}"
        return self.send(self.line.postback(USER, token), count)


def test_line_serve_end_to_end(stubs, tmp_path):
    """Everything a LINE merchant does, against the running server, with a crash in the middle."""
    line, telegram = stubs
    bot = Serve(line, telegram, str(tmp_path / "q.db"))
    bot.start()
    try:
        # A forged webhook does nothing.
        status, _ = line.post_webhook(bot.webhook, [line.message(USER, "/quote")], signature="Zm9yZ2Vk")
        assert status == 401
        # A new friend is greeted with the menu.
        [menu] = bot.send(line.follow(USER))
        assert "menu.start.quote" in [a["data"] for a in menu.quick_replies]
        # A quote, until the sales channels: then the process is killed.
        bot.send(line.message(USER, "/quote"))
        revenue = line.message(USER, "3億")
        bot.send(revenue)
        bot.tap("retail")
        bot.tap("rakuten")
        assert bot.kill() == -signal.SIGKILL
    finally:
        if bot.process.poll() is None:
            bot.process.kill()

    bot.start()
    try:
        # The answers were kept; LINE redelivers 3億 (seen before): processed once.
        bot.send(line.redelivered(revenue), count=0)
        result = bot.tap("done", count=2)
        joined = "\n".join(d.text for d in result)
        assert "月額 3,500円" in joined and "月額 7,500円" in joined
        assert result[0].message["type"] == "flex"
        assert sum("3/3" in d.text for d in line.delivered(USER)) == 2  # the channels card, and its tick

        # Incident help, and the record as a link that opens.
        bot.send(line.message(USER, "/incident"), count=2)
        bot.tap("card_leak")
        bot.tap("yesterday")
        bot.tap("names_contacts")
        bot.tap("done")
        bot.tap("up_to_100")
        bot.tap("no")  # encrypted
        bot.tap("no")  # a contractor
        assessed = bot.tap("none", count=5)
        link = next(w for d in assessed for w in d.text.split() if w.startswith(bot.base + "/records/"))
        with urllib.request.urlopen(link, timeout=10) as response:
            assert response.status == 200 and "I-" in (record := response.read().decode())
        # A worker without the file (another one sent it) serves the same record from the database.
        files = list((tmp_path / "records").iterdir())
        assert len(files) == 2  # the record and its expiry
        for file in files:
            file.unlink()
        with urllib.request.urlopen(link, timeout=10) as response:
            assert response.status == 200 and response.read().decode() == record
        telegram.wait_for(lambda s: s.sent(STAFF), timeout=20)  # staff alerted in General

        # A person: a topic in the staff group; text and a photo relayed; staff answer by push.
        bot.send(line.message(USER, "/staff"))
        telegram.wait_for(lambda s: s.topics(STAFF), timeout=20)
        (thread,) = telegram.topics(STAFF)
        header = telegram.wait_for(lambda s: [m.text for m in s.sent(STAFF, thread) if m.text], timeout=20)[0]
        assert "line" in header and "佐藤 商店" in header
        bot.send(line.message(USER, "保険について質問です"), count=0)
        telegram.wait_for(
            lambda s: any(m.text == "保険について質問です" for m in s.sent(STAFF, thread)), timeout=20
        )
        bot.send(line.image(USER, b"\xff\xd8\xff\xe0 a receipt"), count=0)
        telegram.wait_for(lambda s: s.calls("sendPhoto"), timeout=20)
        telegram.push_message(
            STAFF, "担当の田中です。", chat_type="supergroup", message_thread_id=thread, is_topic_message=True
        )
        [answer] = line.wait_for_delivered(USER, len(line.delivered(USER)) + 1, 20)[-1:]
        assert answer.text == "担当の田中です。" and answer.via == "push" and answer.retry_key
        telegram.push_message(
            STAFF, "/close", chat_type="supergroup", message_thread_id=thread, is_topic_message=True
        )
        line.wait_for(lambda s: s.delivered(USER)[-1].text != "担当の田中です。", timeout=20)
        assert bot.kill(signal.SIGTERM) == 0
    finally:
        if bot.process.poll() is None:
            bot.process.kill()
    logs = "\n".join(bot.logs)
    for secret in (line.channel_secret, line.access_token, TG_TOKEN):
        assert secret not in logs
    # Every push carried a retry key; the staff answer reached the user once.
    assert all(d.retry_key for d in line.delivered(USER) if d.via == "push")
    assert [d.text for d in line.delivered(USER)].count("担当の田中です。") == 1
