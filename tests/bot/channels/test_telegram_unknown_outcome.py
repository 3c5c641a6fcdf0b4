"""Telegram sends whose outcome is unknown (issue 13): the real PTB Bot over HTTP against the Bot
API stub, whose `fault_next` makes one call hang past the client's read timeout ("hang": nothing
done) or succeed only after it ("late": done, the answer lost).

An edit is retried as an edit; a new message is sent again once per send of unknown outcome,
that resend waits longer for its answer and is logged with the row's id and destination; a
send that failed for sure (429, 5xx) takes its noted attempt back and is retried soon.
"""

import logging

import pytest
from telegram.request import HTTPXRequest

from bot.channels.telegram import make_bot
from bot.channels.telegram_sender import RESEND_READ_TIMEOUT, TelegramSender
from bot.messages import Envelope, Key, Notice, Option, Reply
from bot.outbox import Outbox
from bot.store import open_store
from tests.support.botapi_stub import BotApiStub
from tests.support.transcript import Clock

TOKEN = "135:UNKNOWN-outcome-token"
CHAT = 5151
USER = Key("telegram", str(CHAT))
READ_TIMEOUT = 0.3  # the client gives up after this; a forced hang lasts 1 s


@pytest.fixture
def stub():
    with BotApiStub(TOKEN) as stub:
        yield stub


@pytest.fixture
async def sending(stub, tmp_path):
    store = await open_store(tmp_path / "u.db")
    clock = Clock()
    bot = make_bot(TOKEN, stub.base_url, request=HTTPXRequest(read_timeout=READ_TIMEOUT))
    await bot.initialize()
    outbox = Outbox(store, clock)
    outbox.register("telegram", TelegramSender(bot))
    yield store, clock, outbox
    await bot.shutdown()
    await store.close()


async def queue(store, clock, body, **options) -> int:
    async with store.transaction() as tx:
        return await tx.enqueue(Envelope(USER, body, **options), clock())


async def record(store, row_id):
    async with store.transaction() as tx:
        return await tx.outbox_record(row_id)


def resends(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "may arrive twice" in r.getMessage()]


async def test_an_edit_that_timed_out_is_retried_as_an_edit(stub, sending):
    """A tick's edit whose answer never came (done or not) goes again as editMessageText on the
    same message, a second later: never as a new message, and no possible duplicate is logged."""
    store, clock, outbox = sending
    sent = stub.call_api(TOKEN, "sendMessage", {"chat_id": CHAT, "text": "3/3 販売チャネル"}, {})[1]["result"]
    tick = Reply(
        "quote/channels",
        "3/3 販売チャネル\n選択中: 楽天市場",
        (Option("quote.channels.rakuten.0.v1", "✅ 楽天市場"),),
        replaces=True,
    )
    row = await queue(store, clock, tick, reply_ctx={"message_id": sent["message_id"]})
    stub.fault_next("editMessageText", "late")
    await outbox.drain()
    assert (await record(store, row)).sent_at is None  # its outcome is unknown: not marked sent
    clock.advance(seconds=1)  # the first retry after a timeout: half a second, rounded up
    await outbox.drain()
    assert [c.method for c in stub.calls() if c.method != "getMe"] == [
        "sendMessage",
        "editMessageText",
        "editMessageText",
    ]
    assert stub.calls("editMessageText")[-1].params["message_id"] == sent["message_id"]
    assert (await record(store, row)).sent_at is not None
    assert len(stub.sent(CHAT)) == 1  # one message, edited once (the retry was "not modified")
    assert stub.message(CHAT, sent["message_id"])["text"] == "3/3 販売チャネル\n選択中: 楽天市場"


async def test_a_message_sent_late_is_sent_once_more_logged_with_a_longer_wait(stub, sending, caplog):
    """A sendMessage done after the client gave up is sent again once (the user may see it
    twice), with one WARNING naming the row and its destination, never the text. That resend
    waits RESEND_READ_TIMEOUT for its answer: its own slow answer (1 s, past the first send's
    0.3 s) is heard, so it is marked sent and no third copy follows."""
    store, clock, outbox = sending
    row = await queue(
        store, clock, Reply("quote/next", "次はどうしますか？", (Option("quote.next.apply", "申し込む"),))
    )
    stub.fault_next("sendMessage", "late")
    stub.fault_next("sendMessage", "late")
    caplog.set_level(logging.WARNING)
    await outbox.drain()
    assert (await record(store, row)).uncertain == 1 and resends(caplog) == []
    clock.advance(seconds=1)
    await outbox.drain()
    clock.advance(seconds=10)
    await outbox.drain()  # nothing more: the resend was heard and marked sent
    assert [m.text for m in stub.sent(CHAT)] == ["次はどうしますか？", "次はどうしますか？"]
    assert [c.fault for c in stub.calls("sendMessage")] == ["late", "late"]
    (line,) = resends(caplog)
    assert line.startswith(f"outbox {row} to telegram:{CHAT}: ") and "次は" not in line
    assert (await record(store, row)).sent_at is not None
    assert RESEND_READ_TIMEOUT > 1.0


async def test_a_hang_then_a_known_failure_is_resent_without_another_warning(stub, sending, caplog):
    """A hang (nothing done) leaves one send of unknown outcome; the resend meets a 502 (known:
    nothing done), takes its attempt back, and the one after that goes: two copies at most were
    possible, and one WARNING per possible repeat (the 502 in between adds none)."""
    store, clock, outbox = sending
    row = await queue(store, clock, Reply("quote/result", "お見積り Q-1"))
    stub.fault_next("sendMessage", "hang")
    stub.fault_next("sendMessage", "5xx")
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        await outbox.drain()
        clock.advance(seconds=2)
    assert [m.text for m in stub.sent(CHAT)] == ["お見積り Q-1"]
    done = await record(store, row)
    assert done.sent_at is not None and done.uncertain == 2  # the hang, and the resend that went
    assert len(resends(caplog)) == 1


async def test_a_known_failure_takes_the_attempt_back(stub, sending, caplog):
    """A 429 or a 502 is Telegram saying it did nothing: the row's attempt is taken back, so its
    next send is no possible duplicate and is not logged as one."""
    store, clock, outbox = sending
    row = await queue(store, clock, Reply("menu/start", "こんにちは"))
    stub.fault_next("sendMessage", "5xx")
    caplog.set_level(logging.WARNING)
    await outbox.drain()
    failed = await record(store, row)
    assert failed.uncertain == 0 and failed.attempts == 1 and failed.sent_at is None
    clock.advance(seconds=1)
    await outbox.drain()
    assert [m.text for m in stub.sent(CHAT)] == ["こんにちは"] and resends(caplog) == []


async def tapped_then_answered(stub, store, clock) -> str:
    """The industry prompt shown and tapped; owed: the tap's answer, then the next prompt.
    Returns the callback query's id."""
    shown = stub.call_api(TOKEN, "sendMessage", {"chat_id": CHAT, "text": "2/3 業種"}, {})[1]["result"]
    tap = stub.push_callback(CHAT, shown["message_id"], "quote.industry.retail")
    query = stub.pending_update(tap)["callback_query"]["id"]
    await queue(store, clock, Notice(""), reply_ctx={"callback_query_id": query})
    await queue(store, clock, Reply("quote/channels", "3/3 販売チャネル"))
    return query


async def test_a_tap_answer_that_hangs_holds_the_reply_up_briefly_and_is_answered(stub, sending):
    """A callback answer that never comes back is given up on quickly and answered again (the
    second answer is refused harmlessly when the first had gone); the reply behind it follows."""
    store, clock, outbox = sending
    query = await tapped_then_answered(stub, store, clock)
    stub.fault_next("answerCallbackQuery", "hang", hang=3.0)  # past TAP_READ_TIMEOUT (2 s)
    await outbox.drain()
    assert query in stub.open_queries() and len(stub.sent(CHAT)) == 1
    clock.advance(seconds=1)
    await outbox.drain()
    assert query not in stub.open_queries()
    assert [m.text for m in stub.sent(CHAT)] == ["2/3 業種", "3/3 販売チャネル"]


async def test_after_a_kill_during_a_send_the_next_process_logs_its_resend(stub, tmp_path, caplog):
    """The process dies between handing a message to Telegram and marking it sent: the attempt
    was written down first, so the next process's send of it is logged as a possible repeat."""
    store = await open_store(tmp_path / "k.db")
    clock = Clock()
    row = await queue(store, clock, Reply("quote/result", "お見積り Q-2"))
    await store.note_attempt(row)  # what the killed process wrote before its call
    bot = make_bot(TOKEN, stub.base_url, request=HTTPXRequest(read_timeout=READ_TIMEOUT))
    await bot.initialize()
    try:
        outbox = Outbox(store, clock)
        outbox.register("telegram", TelegramSender(bot))
        caplog.set_level(logging.WARNING)
        await outbox.drain()
    finally:
        await bot.shutdown()
    (line,) = resends(caplog)
    assert line.startswith(f"outbox {row} to telegram:{CHAT}: ") and "after 1 send(s) of unknown" in line
    assert stub.calls("sendMessage")[-1].params.get("text") == "お見積り Q-2"
    assert (await record(store, row)).uncertain == 2
    await store.close()


async def test_a_tap_answer_refused_with_a_5xx_is_tried_again_at_once(stub, sending):
    """Telegram's 502 for a callback answer (nothing done): tried again at once, so the reply
    behind it goes in the same pass, not a backoff later."""
    store, clock, outbox = sending
    query = await tapped_then_answered(stub, store, clock)
    stub.fault_next("answerCallbackQuery", "5xx")
    stub.fault_next("answerCallbackQuery", "5xx")
    await outbox.drain()
    assert [c.fault for c in stub.calls("answerCallbackQuery")] == ["5xx", "5xx", None]
    assert query not in stub.open_queries()
    assert [m.text for m in stub.sent(CHAT)] == ["2/3 業種", "3/3 販売チャネル"]
