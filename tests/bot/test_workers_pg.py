"""Several workers on one PostgreSQL database behave as one bot (issue 14).

Each "worker" here is a whole app of its own (its own pool of connections, engine and outbox) on
the same throwaway database, as separate `quotebot serve` processes would be. They share
nothing but the database, so every guarantee below is the database's, not the process's.
"""

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest

from bot.messages import Envelope, Inbound, Key, Reply, Staff
from bot.outbox import Outbox, SlidingWindow
from bot.store import open_store
from tests.support.backends import fresh_pg_url
from tests.support.transcript import NOW, Clock, open_chat_app


class SlowRecorder:
    """A sender that takes a few milliseconds per message and notes who sent what."""

    def __init__(self, name: str, log: list):
        self.name, self.log = name, log

    async def deliver(self, rows):
        for row in rows:
            await asyncio.sleep(0.002)
            self.log.append((self.name, row.id, row.envelope.destination))
            await row.sent()


@pytest.fixture
async def pg():
    return await fresh_pg_url()


async def test_workers_send_each_outbox_row_once_in_order_per_destination(pg):
    """Three workers drain one outbox together: every row goes once, each chat's in row order."""
    clock = Clock()
    stores = [await open_store(pg, settle=0) for _ in range(3)]
    sent: list = []
    outboxes = []
    for n, store in enumerate(stores):
        outbox = Outbox(store, clock)
        outbox.register("telegram", SlowRecorder(f"w{n}", sent))
        outboxes.append(outbox)
    chats = [Key("telegram", str(n)) for n in range(6)]
    async with stores[0].transaction() as tx:
        ids = [await tx.enqueue(Envelope(chats[n % 6], Reply("k", f"m{n}")), NOW) for n in range(60)]
    try:
        for _ in range(5):  # until all is sent; each round all three race for the same rows
            await asyncio.gather(*(o.drain() for o in outboxes))
    finally:
        for store in stores:
            await store.close()
    assert sorted(i for _, i, _ in sent) == ids  # each row exactly once
    for chat in chats:
        order = [i for _, i, d in sent if d == chat]
        assert order == sorted(order) and len(order) == 10, chat
    assert len({w for w, _, _ in sent}) >= 2  # the work was really shared


async def test_workers_share_the_staff_groups_limit(pg):
    """20 a minute is 20 for all workers together, not 20 each."""
    clock = Clock()
    stores = [await open_store(pg, settle=0) for _ in range(3)]
    sent: list = []
    outboxes = []
    for n, store in enumerate(stores):
        outbox = Outbox(store, clock)
        outbox.register(
            "staff", SlowRecorder(f"w{n}", sent), limit=lambda: SlidingWindow(20, timedelta(minutes=1))
        )
        outboxes.append(outbox)
    async with stores[0].transaction() as tx:
        for n in range(30):
            await tx.enqueue(Envelope(Staff(Key("telegram", str(n))), Reply("k", "alert"), kind="alert"), NOW)
    try:
        held = await asyncio.gather(*(o.drain() for o in outboxes))
        await asyncio.gather(*(o.drain() for o in outboxes))
    finally:
        for store in stores:
            await store.close()
    assert len(sent) == 20
    assert any(h is not None and 0 < h <= 60 for h in held)


async def test_workers_run_each_event_once_in_the_platforms_order(pg):
    """Chats whose updates are accepted by two workers, the later update first: each chat's
    turns run once each, in update_id order, whichever worker runs them."""
    env = {"QUOTEBOT_SETTLE_MS": "200"}
    apps = [await open_chat_app(pg, Clock(), env=env) for _ in range(2)]
    chats = [Key("telegram", str(100 + n)) for n in range(20)]
    try:
        for n, chat in enumerate(chats):
            first, second = apps[n % 2], apps[(n + 1) % 2]
            # update 2 ("3億") reaches a worker before update 1 ("/quote") reaches the other
            await first.engine.accept([Inbound(chat, "text", "3億", event_id=f"{chat}:2", order=2)])
            await second.engine.accept([Inbound(chat, "text", "/quote", event_id=f"{chat}:1", order=1)])
            # and a redelivery of update 1 to the first worker is ignored
            await first.engine.accept([Inbound(chat, "text", "/quote", event_id=f"{chat}:1", order=1)])
        await asyncio.gather(*(app.engine.settle(chats) for app in apps))
        await asyncio.gather(*(app.engine.settle() for app in apps))
        # A flush that found another worker sending to the chat leaves the row to the outbox
        # worker (in `serve` it runs all along, woken by NOTIFY): one drain here does its part.
        await asyncio.gather(*(app.outbox.drain() for app in apps))
        replies = [r for app in apps for r in app.recorder.rows if r.kind == "reply"]
        for chat in chats:
            keys = [r.body.key for r in sorted(replies, key=lambda r: r.id) if r.destination == chat]
            # /quote asks for the revenue, 3億 is taken and the industry asked: once each, in order
            assert keys == ["quote/revenue", "quote/industry"], (chat, keys)
        async with apps[0].store.transaction() as tx:
            assert await tx.pending_conversations() == []
    finally:
        for app in apps:
            await app.close()


async def test_workers_a_send_slower_than_the_lease_is_not_sent_again(pg, monkeypatch):
    """A send that takes longer than the lease (a slow Telegram): the sending worker renews the
    lease while the call is on its way, so another worker draining meanwhile leaves the row."""
    monkeypatch.setattr("bot.outbox.LEASE_SECONDS", 1.0)
    clock = Clock()
    stores = [await open_store(pg, settle=0) for _ in range(2)]
    sent: list = []

    class Slow:
        async def deliver(self, rows):
            for row in rows:
                sent.append(("slow", row.id))
                await asyncio.sleep(3.0)  # three leases long
                await row.sent()

    slow, other = Outbox(stores[0], clock), Outbox(stores[1], clock)
    slow.register("telegram", Slow())
    other.register("telegram", SlowRecorder("other", sent))
    async with stores[0].transaction() as tx:
        row = await tx.enqueue(Envelope(Key("telegram", "1"), Reply("k", "hello")), NOW)
    try:
        sending = asyncio.create_task(slow.drain())
        while not sent:  # the slow worker has the lease and its call is on its way
            await asyncio.sleep(0.01)
        while not sending.done():  # the other worker keeps looking while the call is slow
            await other.drain()
            await asyncio.sleep(0.2)
        await sending
        await other.drain()
    finally:
        for store in stores:
            await store.close()
    assert [s[:2] for s in sent] == [("slow", row)]


async def test_workers_a_settling_turn_holds_no_connection(pg):
    """A turn waiting out the settle window holds no pooled connection: with a pool of one and
    a 5 s window, another chat's update is still committed (the webhook's 2xx) at once."""
    app = await open_chat_app(pg, Clock(), env={"QUOTEBOT_DB_POOL": "1", "QUOTEBOT_SETTLE_MS": "5000"})
    a, b = Key("telegram", "1"), Key("telegram", "2")
    try:
        await app.engine.accept([Inbound(a, "text", "/start", event_id="a1", order=1)])
        settling = asyncio.create_task(app.engine.step(a))
        await asyncio.sleep(0.2)  # the step is waiting for a1 to settle
        # (half the window: had the turn held the connection, this would wait out the window)
        accepted = await asyncio.wait_for(
            app.engine.accept([Inbound(b, "text", "/start", event_id="b1", order=2)]), timeout=2.5
        )
        assert accepted == 1 and not settling.done()
        settling.cancel()
    finally:
        await app.close()


async def test_workers_is_there_more_does_not_wait_for_the_next_event_to_settle(pg):
    """Within a turn, asking again whether another event waits answers at once: the turn's
    commit is not held up (lock and connection) by the next event's settle window."""
    store = await open_store(pg, settle=30)
    a = Key("telegram", "1")
    try:
        async with store.transaction() as tx:
            await tx.add_inbound(Inbound(a, "text", "one", event_id="e1", order=1), NOW)
            await tx.add_inbound(Inbound(a, "text", "two", event_id="e2", order=2), NOW)
        async with store._pool.acquire() as conn:  # e1 arrived long ago; e2 just now
            await conn.execute(
                "UPDATE inbox SET arrived_at = arrived_at - interval '1 minute' WHERE event_id = 'e1'"
            )
        assert await store.settle_wait(a) == 0
        async with store.transaction() as tx:
            first = await asyncio.wait_for(tx.next_inbound(a), timeout=10)
            await tx.inbound_done(first.id, NOW)
            more = await asyncio.wait_for(tx.next_inbound(a), timeout=10)
        assert (first.inbound.text, more.inbound.text) == ("one", "two")
        assert 25 < await store.settle_wait(a) <= 30  # e2 itself still waits out its window
    finally:
        await store.close()


class Stalling:
    """A store whose transactions, from the `after`-th on, wait `seconds` first: a worker whose
    pool (or event loop) is starved, its lease renewals included."""

    def __init__(self, store, after: int, seconds: float):
        self._store, self.after, self.seconds = store, after, seconds
        self.count, self.stalled = 0, asyncio.Event()

    def __getattr__(self, name):
        return getattr(self._store, name)

    @contextlib.asynccontextmanager
    async def transaction(self):
        self.count += 1
        if self.count >= self.after:
            self.stalled.set()
            await asyncio.sleep(self.seconds)
        async with self._store.transaction() as tx:
            yield tx


async def test_workers_a_worker_whose_lease_ran_out_sends_nothing_more(pg, monkeypatch):
    """A worker stalled between reading a chat's rows and sending them (waiting for the shared
    rate limit on a starved pool) for longer than its lease: another worker took over and sent
    them; the stalled one, back, sends nothing under the lapsed lease."""
    monkeypatch.setattr("bot.outbox.LEASE_SECONDS", 1.0)
    clock = Clock()
    base = [await open_store(pg, settle=0) for _ in range(2)]
    sent: list = []
    # Its 4th transaction is the rate limit's reservation (1: the due scan, 2: lease, 3: rows).
    stalling = Stalling(base[0], after=4, seconds=2.5)
    stalled, other = Outbox(stalling, clock), Outbox(base[1], clock)
    window = lambda: SlidingWindow(100, timedelta(seconds=1))  # noqa: E731
    stalled.register("telegram", SlowRecorder("stalled", sent), limit=window)
    other.register("telegram", SlowRecorder("other", sent))
    async with base[0].transaction() as tx:
        row = await tx.enqueue(Envelope(Key("telegram", "1"), Reply("k", "hello")), NOW)
    try:
        sending = asyncio.create_task(stalled.drain())
        await stalling.stalled.wait()
        while not sent:  # once the lease has run out, the other worker sends the row
            await other.drain()
            await asyncio.sleep(0.2)
        await sending
    finally:
        for store in base:
            await store.close()
    assert [s[:2] for s in sent] == [("other", row)]


async def test_workers_rows_written_while_another_worker_holds_the_chat_are_not_left_behind(pg):
    """A worker that finds a chat's lease held by another (which may have died holding it, or be
    done with what it read before this row was written) says when to look again, and its idle
    outbox worker sends the row once the lease is free: not at its 30 s idle look."""

    def clock():  # the real one: the worker's leftover look and the lease go by real time
        return datetime.now(UTC)

    store = await open_store(pg, settle=0)
    sent: list = []
    outbox = Outbox(store, clock)
    outbox.register("telegram", SlowRecorder("w", sent))
    chat = Key("telegram", "5")
    worker = asyncio.create_task(outbox.run())
    try:
        await asyncio.sleep(0.2)  # the worker found nothing to do: it sleeps until its idle look
        async with store.transaction() as tx:
            assert await tx.lease_destination(chat, "a worker killed mid-send", 1.0)
            row = await tx.enqueue(Envelope(chat, Reply("k", "after the lease")), clock())
        held = await outbox.flush([chat])
        assert held is not None and 0 < held <= 1.0 and sent == []
        outbox.wake.set()  # what the engine does when a flush says something is held back
        async with asyncio.timeout(10):  # well before IDLE_WAKE (30 s)
            while not sent:
                await asyncio.sleep(0.05)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await store.close()
    assert [i for _, i, _ in sent] == [row]
