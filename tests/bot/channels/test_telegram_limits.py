"""Telegram's limits, enforced before sending: the bot's 30 messages a second, a private chat's
burst of 5 then one a second, a group's 20 a minute; a 429 postpones its chat, 429s from several
chats at once pause the bot.

The real Outbox (the app's), the real Telegram channel and its senders with PTB's Bot, over the
in-process request layer to the Bot API stub. The clock is the test's: nothing here sleeps or
times anything. `run_out` sends what is owed as the outbox worker would, moving the clock on by
what the outbox says to wait, and notes the (test clock) second of every Bot API call. These
run on SQLite whatever QUOTEBOT_TEST_BACKEND says: with several workers on PostgreSQL the
shared windows count by the database's clock, tested apart (the last test).
"""

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest

from bot.app import open_app
from bot.channels.telegram import TelegramChannel, make_bot
from bot.channels.telegram_sender import bot_limit, chat_bucket, reply_cost
from bot.limits import BotLimit
from bot.messages import Envelope, Key, Notice, Reply, Staff
from bot.outbox import Outbox, RetryLater
from bot.settings import ConfigError, Settings
from bot.store import open_store
from tests.bot.test_workers_pg import SlowRecorder
from tests.support.backends import fresh_pg_url
from tests.support.botapi_stub import BotApiStub, FloodControl
from tests.support.offline import OfflineRequest, OfflineTelegram
from tests.support.transcript import Clock

TOKEN = "123:ABC"
STAFF_CHAT = -100123
MESSAGES = {"sendMessage", "editMessageText", "copyMessage", "sendDocument", "createForumTopic"}


@pytest.fixture
def stub():
    with BotApiStub(TOKEN) as stub:
        stub.add_chat(STAFF_CHAT, chat_type="supergroup", title="Support", is_forum=True)
        yield stub


@pytest.fixture
async def app(tmp_path, clock):
    app = await open_app(
        str(tmp_path / "bot.db"), env={"TELEGRAM_STAFF_CHAT_ID": str(STAFF_CHAT)}, clock=clock
    )
    yield app
    await app.close()


@pytest.fixture
async def telegram(app, stub):
    async with OfflineTelegram(app.engine, stub, STAFF_CHAT) as telegram:
        yield telegram


def user(chat: int) -> Key:
    return Key("telegram", str(chat))


async def owe(app, destination, texts, kind="reminder") -> None:
    """Rows waiting in the outbox, as turns or reminders leave them (committed, not yet sent)."""
    async with app.store.transaction() as tx:
        for text in texts:
            await tx.enqueue(Envelope(destination, Reply("test/owed", text), kind=kind), app.engine.clock())


async def run_out(
    app, stub, clock, *, start=None, seen=None, rounds: int = 2000
) -> list[tuple[float, object]]:
    """Send everything owed: drain, and when something is held back or postponed, move the
    clock to when it may go. Every Bot API call made meanwhile (after the first `seen`), with
    its second on the clock since `start` (by default: now, and every call so far)."""
    outbox, timeline = app.engine.outbox, []
    start = start or clock()
    seen = len(stub.calls()) if seen is None else seen
    for _ in range(rounds):
        held = await outbox.drain()
        calls = stub.calls()
        timeline += [((clock() - start).total_seconds(), c) for c in calls[seen:]]
        seen = len(calls)
        if held is None:
            async with app.store.transaction() as tx:
                upcoming = await tx.next_outbox_time(outbox.routes)
            if upcoming is None:
                return timeline
            held = max((upcoming - clock()).total_seconds(), 0.001)
        clock.advance(seconds=held)
    raise AssertionError("the outbox never finished")


def messages(timeline, chat: int | None = None, thread=...) -> list[tuple[float, object]]:
    """The calls that are messages (a tap's answer is not), to `chat` if given."""
    return [
        (t, c)
        for t, c in timeline
        if c.method in MESSAGES
        and c.error is None
        and (chat is None or c.params["chat_id"] == chat)
        and (thread is ... or c.params.get("message_thread_id") == thread)
    ]


def busiest(times: list[float], period: float) -> int:
    """The most sends in any window of `period` seconds (a window starts at some send)."""
    return max((sum(1 for u in times if t <= u < t + period) for t in times), default=0)


def texts(timeline, chat: int) -> list[str]:
    return [c.params["text"] for _, c in messages(timeline, chat)]


async def test_hundred_chats_owed_three_each_go_at_thirty_a_second_in_order(app, telegram, stub, clock):
    """300 messages owed to 100 chats: never more than 30 in any second, each chat's three in
    order, all sent; and no slower than the limit (30 a second: ten seconds, 0 to 9)."""
    chats = range(1, 101)
    for chat in chats:
        await owe(app, user(chat), [f"{chat}: {n}" for n in (1, 2, 3)])
    timeline = await run_out(app, stub, clock)
    sent = messages(timeline)
    assert len(sent) == 300
    assert busiest([t for t, _ in sent], 1.0) == 30
    for chat in chats:
        assert texts(timeline, chat) == [f"{chat}: 1", f"{chat}: 2", f"{chat}: 3"]
    assert max(t for t, _ in sent) == 9.0


async def test_direct_path_counts_against_the_same_limit_and_never_waits(app, telegram, stub, clock):
    """Right after their turns' commits, 100 chats' replies are handed over (flush, as the engine
    does): 30 messages go, the other chats' flushes return at once saying how long to wait, and
    the worker sends the rest within the same limit."""
    outbox, start, before = app.engine.outbox, clock(), len(stub.calls())
    for chat in range(1, 101):
        await owe(app, user(chat), [f"{chat}: {n}" for n in (1, 2, 3)], kind="reply")
    held = [await outbox.flush([user(chat)]) for chat in range(1, 101)]
    direct = [(0.0, c) for c in stub.calls()[before:]]
    assert len(messages(direct)) == 30
    assert held[:10] == [None] * 10 and held[10:] == [1.0] * 90
    clock.advance(seconds=1)
    timeline = direct + await run_out(app, stub, clock, start=start)
    sent = messages(timeline)
    assert len(sent) == 300 and busiest([t for t, _ in sent], 1.0) == 30
    assert texts(timeline, 100) == ["100: 1", "100: 2", "100: 3"]


async def test_chats_that_waited_for_the_bots_window_go_before_newer_ones(app, telegram, stub, clock):
    """More owed than 30 a second lets go: 30 chats' replies fill the second, 30 more are held
    back; when the next second opens, a reply whose turn has just ended does not take a place
    from those that waited (a queue, in the order they were held back), and goes after them."""
    outbox = app.engine.outbox
    for chat in range(1, 61):
        await owe(app, user(chat), [f"{chat}: first"], kind="reply")
    held = [await outbox.flush([user(chat)]) for chat in range(1, 61)]
    assert held[:30] == [None] * 30 and all(h is not None for h in held[30:])
    clock.advance(seconds=1)
    before = len(stub.calls())
    await owe(app, user(99), ["99: new"], kind="reply")
    assert await outbox.flush([user(99)]) is not None  # 30 places free, 30 chats ahead of it
    assert messages([(0.0, c) for c in stub.calls()[before:]]) == []
    timeline = await run_out(app, stub, clock)
    order = [c.params["chat_id"] for _, c in messages(timeline)]
    assert sorted(order[:30]) == list(range(31, 61)) and order[30:] == [99]


async def test_a_flood_to_one_chat_does_not_delay_the_others(app, telegram, stub, clock):
    """20 messages owed to one chat, handed over first, and one each to 20 other chats: the
    others all go at once; the flooded chat gets a burst of 5, then one a second, in order."""
    flooded, others = 7, range(100, 120)
    await owe(app, user(flooded), [f"flood {n}" for n in range(20)], kind="reply")
    for chat in others:
        await owe(app, user(chat), ["hello"], kind="reply")
    assert 0 < await app.engine.outbox.flush([user(flooded)]) <= 1  # held back, not waited for
    assert await app.engine.outbox.flush([user(c) for c in others]) is None
    assert len(messages([(0.0, c) for c in stub.calls()])) == 5 + 20
    timeline = await run_out(app, stub, clock)
    assert [t for t, _ in messages(timeline, flooded)] == [float(n) for n in range(1, 16)]
    assert [c.params["text"] for c in stub.calls("sendMessage") if c.params["chat_id"] == flooded] == [
        f"flood {n}" for n in range(20)
    ]


async def test_a_turns_reply_is_not_held_back(app, telegram, stub, clock):
    """A tap's answer (answerCallbackQuery, not a message) and four messages all go at once: the
    chat's burst covers a turn's reply, twice over; the sixth message would wait."""
    chat = user(5)
    async with app.store.transaction() as tx:
        ctx = {"callback_query_id": "q1"}
        await tx.enqueue(Envelope(chat, Notice(), reply_ctx=ctx), clock())
        for text in ("one", "two", "three", "four"):
            await tx.enqueue(Envelope(chat, Reply("test/owed", text), kind="reply", reply_ctx=ctx), clock())
    assert await app.engine.outbox.flush([chat]) is None
    assert [c.method for c in stub.calls()] == ["getMe", "answerCallbackQuery"] + ["sendMessage"] * 4
    await owe(app, chat, ["five", "six"], kind="reply")
    assert await app.engine.outbox.flush([chat]) == 1.0
    assert texts([(0.0, c) for c in stub.calls()], 5)[-1] == "five"


async def test_staff_group_stays_within_twenty_a_minute_over_all_its_topics(app, telegram, stub, clock):
    """Three customers' topics and General owed 35 messages: at most 20 sends to the group in
    any minute (topic creation included), every topic's messages in order, none lost."""
    customers = [user(c) for c in (11, 12, 13)]
    for customer in customers:
        await owe(app, Staff(customer), [f"{customer} relay {n}" for n in range(10)], kind="relay")
    await owe(app, Staff(), [f"alert {n}" for n in range(5)], kind="alert")
    timeline = await run_out(app, stub, clock)
    group = messages(timeline, STAFF_CHAT)
    assert busiest([t for t, _ in group], 60.0) == 20
    assert len([c for _, c in group if c.method == "sendMessage"]) == 35
    topics = {t["name"]: thread for thread, t in stub.topics(STAFF_CHAT).items()}
    for customer in customers:
        in_topic = [c.params["text"] for _, c in messages(timeline, STAFF_CHAT, topics[str(customer)])]
        assert in_topic == [f"{customer} relay {n}" for n in range(10)]
    assert max(t for t, _ in group) >= 60.0  # 38 sends cannot go in one minute


async def test_one_chats_429_postpones_that_chat_only(app, telegram, stub, clock):
    """Telegram says "retry after 7" for one chat: that chat's messages wait 7 s and go in
    order; the other chats' go at once."""
    stub.fail_next("sendMessage", error_code=429, retry_after=7, when=lambda p: p["chat_id"] == 1)
    for chat in (1, 2, 3):
        await owe(app, user(chat), [f"{chat}: a", f"{chat}: b"])
    timeline = await run_out(app, stub, clock)
    assert [t for t, _ in messages(timeline, 1)] == [7.0, 7.0]
    assert texts(timeline, 1) == ["1: a", "1: b"]
    assert [t for t, _ in messages(timeline, 2) + messages(timeline, 3)] == [0.0] * 4


async def test_429s_from_five_chats_at_once_pause_the_whole_bot(app, telegram, stub, clock):
    """Five different chats refused with 429 within their waits: the bot as a whole went over,
    so nothing is sent to anyone (the staff group neither) until the longest wait is over."""
    refused_chats = (1, 2, 3, 4, 5)
    stub.fail_next(
        "sendMessage", error_code=429, retry_after=5, times=5, when=lambda p: p["chat_id"] in refused_chats
    )
    for chat in (*refused_chats, 6, 7):
        await owe(app, user(chat), [f"{chat}: a"])
    await owe(app, Staff(), ["alert"], kind="alert")
    timeline = await run_out(app, stub, clock)
    refused = [t for t, c in timeline if c.error and "Too Many Requests" in c.error]
    assert refused == [0.0] * 5
    sent = messages(timeline)
    assert {t for t, _ in sent} == {5.0} and len(sent) == 8


async def test_429s_from_five_topics_of_the_staff_group_are_one_chats(app, telegram, stub, clock):
    """The staff group refused in five of its topics is one group over its minute, not the bot
    over its second: a user's message still goes at once."""
    stub.fail_next(
        "sendMessage", error_code=429, retry_after=30, times=5, when=lambda p: p["chat_id"] == STAFF_CHAT
    )
    for customer in range(21, 26):
        await owe(app, Staff(user(customer)), ["relay"], kind="relay")
    await owe(app, user(9), ["hello"])
    timeline = await run_out(app, stub, clock)
    assert [t for t, _ in messages(timeline, 9)] == [0.0]
    assert min(t for t, c in messages(timeline, STAFF_CHAT) if c.method == "sendMessage") == 30.0


async def test_429s_from_four_chats_pause_only_those(app, telegram, stub, clock):
    """Four chats' 429s close together may be four chats' own: the others are not held."""
    stub.fail_next("sendMessage", error_code=429, retry_after=5, times=4, when=lambda p: p["chat_id"] <= 4)
    for chat in (1, 2, 3, 4, 6, 7):
        await owe(app, user(chat), [f"{chat}: a"])
    timeline = await run_out(app, stub, clock)
    assert [t for t, _ in messages(timeline, 6) + messages(timeline, 7)] == [0.0, 0.0]
    assert {t for t, _ in messages(timeline) if t} == {5.0}


async def test_limits_are_off_for_benchmarks(tmp_path, clock, stub):
    """`limits=False` (the benchmarks against the stub): 40 messages to one chat go at once."""
    app = await open_app(str(tmp_path / "bot.db"), env={}, clock=clock)
    bot = make_bot(TOKEN, stub.base_url, request=OfflineRequest(stub))
    try:
        TelegramChannel(app.engine, bot, limits=False)
        await owe(app, user(9), [f"m {n}" for n in range(40)])
        async with bot:
            assert await app.engine.outbox.drain() is None
        assert len(stub.calls("sendMessage")) == 40
    finally:
        await app.close()


def test_a_rows_cost_is_the_messages_it_sends():
    """What the limits count: a text over 4096 characters is two messages, an edit one, an empty
    reply (a staff desk operation alone) none."""
    assert reply_cost(Reply("k", "x" * 5000)) == 2
    assert reply_cost(Reply("k", "x" * 5000), edit=True) == 2  # too long to edit: sent anew
    assert reply_cost(Reply("k", "short"), edit=True) == 1
    assert reply_cost(Reply("k", "")) == 0


async def test_workers_on_postgresql_share_the_bots_limit():
    """Three workers (each its own store connection, outbox and limit, as three `quotebot serve`
    processes) owe 90 chats a message each: together they send what the bot may, not three
    times that. The window is made 5 minutes long so that the test cannot outlast it."""
    url = await fresh_pg_url()
    clock, sent = Clock(), []
    stores = [await open_store(url, settle=0) for _ in range(3)]
    outboxes = []
    for n, store in enumerate(stores):
        outbox = Outbox(store, clock)
        limit = BotLimit("telegram", 30, timedelta(minutes=5))
        outbox.register("telegram", SlowRecorder(f"w{n}", sent), limit=chat_bucket, overall=limit)
        outboxes.append(outbox)
    async with stores[0].transaction() as tx:
        for chat in range(90):
            await tx.enqueue(Envelope(user(chat), Reply("k", "hello")), clock())
    try:
        held = await asyncio.gather(*(o.drain() for o in outboxes))
        held += await asyncio.gather(*(o.drain() for o in outboxes))
    finally:
        for store in stores:
            await store.close()
    assert len(sent) == 30
    assert len({w for w, _, _ in sent}) >= 2  # the work, and the limit, were really shared
    assert any(h is not None and 0 < h <= 300 for h in held)  # the rest wait, none lost


class Flooded:
    """A sender Telegram refuses with 429 (retry after a minute) for chats 1 to 5."""

    def __init__(self, log: list):
        self.log = log

    async def deliver(self, rows):
        for row in rows:
            if row.destination.id in ("1", "2", "3", "4", "5"):
                raise RetryLater(60, "Too Many Requests", flood=True)
            self.log.append(row.destination)
            await row.sent()


async def test_a_pause_for_the_whole_bot_holds_every_worker_on_postgresql():
    """One worker meets 429s from five chats: the other worker sends nothing either (it is the
    same bot) until the pause is over; told by the database, not by its own 429s."""
    url = await fresh_pg_url()
    clock, sent = Clock(), []
    stores = [await open_store(url, settle=0) for _ in range(2)]
    outboxes = []
    for store in stores:
        outbox = Outbox(store, clock)
        outbox.register("telegram", Flooded(sent), limit=chat_bucket, overall=bot_limit())
        outboxes.append(outbox)
    async with stores[0].transaction() as tx:
        for chat in (1, 2, 3, 4, 5):
            await tx.enqueue(Envelope(user(chat), Reply("k", "refused")), clock())
    try:
        await outboxes[0].drain()
        async with stores[0].transaction() as tx:
            # A chat that met no 429 itself (a refused chat's next row waits behind its own retry).
            await tx.enqueue(Envelope(user(6), Reply("k", "held")), clock())
        held = await outboxes[1].drain()
    finally:
        for store in stores:
            await store.close()
    assert sent == [] and 50 < held <= 60


def test_rate_limits_setting_is_on_unless_turned_off():
    """TELEGRAM_RATE_LIMITS: on by default, `off` for a load test, anything else one clear line."""
    env = {"TELEGRAM_BOT_TOKEN": "1:x"}
    assert Settings.from_env(env).telegram().limits is True
    assert Settings.from_env({**env, "TELEGRAM_RATE_LIMITS": "OFF"}).telegram().limits is False
    with pytest.raises(ConfigError, match="TELEGRAM_RATE_LIMITS must be on or off"):
        Settings.from_env({**env, "TELEGRAM_RATE_LIMITS": "maybe"})


def test_a_send_counts_until_a_second_after_it_was_done():
    """30 sends handed over at 0 and slow to go out (done at 0.9): Telegram may see them arrive
    as late as 0.9, so nothing more goes until 1.9 (counting from the hand-over alone would
    let 30 more go at 1.0, and 60 arrive within one second)."""
    window, start = bot_limit(), Clock().now
    at = [start + timedelta(seconds=s) for s in (0, 0.9, 1.0, 1.9)]
    assert window.fits(at[0], [1] * 40) == 30
    for _ in range(30):
        window.record(at[0], 1)
    assert window.fits(at[2], [1]) == 0 and window.wait(at[2], 1) > 0  # still on their way
    for _ in range(30):
        window.done(at[1], 1)
    assert window.fits(at[2], [1]) == 0 and window.wait(at[2], 1) == pytest.approx(0.9)
    assert window.fits(at[3], [1] * 40) == 30


def test_a_real_bot_process_never_meets_telegrams_flood_control(tmp_path):
    """`quotebot telegram` (a real process, the real clock, the outbox worker's concurrent sends)
    against a stub that enforces Telegram's 30 messages a second as Telegram does (429): 100
    chats type three messages at once; every reply arrives, each chat's in order, and the stub
    never had to refuse one.
    Nothing is timed: a limiter that let 31 arrive within a second would be refused."""
    # Backlog 128: the bot opens ~30 connections at once here, and with socketserver's 5 the
    # kernel dropped connects; a send that lost its connection had an unknown outcome, and the
    # menu it carried was rightly dropped once the chat had moved on (2 replies, not 3).
    with BotApiStub(TOKEN, flood=FloodControl(), backlog=128) as stub:
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": stub.base_url,
            "QUOTEBOT_DB": str(tmp_path / "bot.db"),
        }
        log = (tmp_path / "bot.log").open("w")  # a pipe nobody reads would fill and stop the bot
        bot = subprocess.Popen([sys.executable, "-m", "bot", "telegram"], env=env, stdout=log, stderr=log)
        try:
            stub.wait_for(lambda s: s.calls("getUpdates"), 30, "the bot polling")
            chats = range(1000, 1100)
            for text in ("/start", "/quote", "3億"):
                for chat in chats:
                    stub.push_message(chat, text)
            stub.wait_for(
                lambda s: all(len(s.sent(c)) >= 3 for c in chats), 120, "every chat's three replies"
            )
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(timeout=30)
            log.close()
        assert stub.flooded() == []
        for chat in chats:
            texts = [s.text for s in stub.sent(chat)]
            heads = ("ご用件", "1/3 年間売上高", "300,000,000円")  # the menu, the question, the answer
            assert len(texts) == 3 and all(h in t for h, t in zip(heads, texts, strict=True)), texts
