"""A tap's answer goes first (issue 15): a tap whose turn shows no notice is answered, with no
text, as soon as the turn is worked out, before its commit, so the button stops spinning
without waiting for the commit (and the turns ahead of it); a notice the turn decided (a stale
button's toast) still goes after the commit. Either way each tap is answered exactly once.

Through the real PTB Bot and our Telegram channel, answered by the Bot API stub in-process; the
SQLite group commit is held in the database thread (the store's COMMIT waits for the test), so
"before the commit" is a state the test looks at, not a moment it times.
"""

import asyncio
import contextlib
import threading

import pytest
from telegram import Update

from bot.store.sqlite import SqliteStore
from tests.support.botapi_stub import BotApiStub
from tests.support.offline import OfflineTelegram, deliver
from tests.support.transcript import Clock, open_chat_app

TOKEN = "123:ABC"
USER = 4242


@pytest.fixture
def stub():
    with BotApiStub(TOKEN) as stub:
        yield stub


@pytest.fixture
async def telegram(tmp_path, stub):
    app = await open_chat_app(tmp_path / "q.db", Clock())  # SQLite: its group commit is held below
    try:
        async with OfflineTelegram(app.engine, stub) as telegram:
            yield telegram
    finally:
        await app.close()


class HeldCommits:
    """Every group COMMIT of the store waits in the database thread until `release()`."""

    def __init__(self, store: SqliteStore):
        self.store, self.reached, self._go = store, asyncio.Event(), threading.Event()
        loop = asyncio.get_running_loop()

        def commit(conn):
            loop.call_soon_threadsafe(self.reached.set)
            self._go.wait()
            conn.execute("COMMIT")

        store._commit = commit

    def release(self) -> None:
        self._go.set()
        del self.store._commit  # the class's own again


@contextlib.asynccontextmanager
async def held(store):
    hold = HeldCommits(store)
    try:
        yield hold
    finally:
        if not hold._go.is_set():
            hold.release()


async def say(telegram, stub, text):
    await deliver(telegram, stub, stub.push_message(USER, text))


async def tap_committed(telegram, stub, data, message_id) -> tuple[str, int]:
    """A tap on the button `data` of `message_id`, taken into the inbox (committed), not run yet:
    its callback query id and how many Bot API calls were made before its turn."""
    update_id = stub.push_callback(USER, message_id, stub.button(USER, message_id, data))
    update = stub.pending_update(update_id)
    await telegram.channel.take([Update.de_json(update, telegram.bot)])
    return update["callback_query"]["id"], len(stub.calls())


def answers(stub, query):
    return [c for c in stub.calls("answerCallbackQuery") if c.params["callback_query_id"] == query]


async def test_a_tap_without_a_notice_is_answered_before_its_turn_commits(telegram, stub):
    await say(telegram, stub, "/quote")
    await say(telegram, stub, "3億")
    keyboard = stub.sent(USER)[-1].message_id  # 2/3 業種
    query, before = await tap_committed(telegram, stub, "quote.industry.retail", keyboard)
    async with held(telegram.engine.store) as hold:
        turn = asyncio.create_task(telegram.engine.settle())
        await hold.reached.wait()  # the turn is worked out; its commit waits
        await stub.async_wait_for(lambda s: query not in s.open_queries())
        assert [c.method for c in stub.calls_since(before)] == ["answerCallbackQuery"]  # nothing else yet
        hold.release()
        await turn
    (answer,) = answers(stub, query)  # once: the turn's own row found it answered
    assert answer.params.get("text") is None
    after = [c.method for c in stub.calls_since(before)]
    assert after[0] == "answerCallbackQuery" and len(after) > 1  # the turn's reply after the commit
    assert "販売チャネル" in stub.sent(USER)[-1].text


async def test_a_tap_whose_notice_the_turn_decides_is_answered_after_the_commit(telegram, stub):
    await say(telegram, stub, "/quote")
    await say(telegram, stub, "3億")
    keyboard = stub.sent(USER)[-1].message_id
    first, _ = await tap_committed(telegram, stub, "quote.industry.retail", keyboard)
    await telegram.engine.settle()
    again, before = await tap_committed(telegram, stub, "quote.industry.retail", keyboard)  # stale now
    async with held(telegram.engine.store) as hold:
        turn = asyncio.create_task(telegram.engine.settle())
        await hold.reached.wait()
        assert again in stub.open_queries() and stub.calls_since(before) == []  # nothing before the commit
        hold.release()
        await turn
    (answer,) = answers(stub, again)
    assert answer.params["text"] == "このボタンは前の質問のものです。最新のメッセージからお答えください。"
    assert len(answers(stub, first)) == 1
