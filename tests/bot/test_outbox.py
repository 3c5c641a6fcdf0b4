"""The outbox: queued messages go out once, in order per destination, wait when told to, retry on
failure, never vanish."""

import asyncio
import logging
from datetime import timedelta

from bot.messages import Envelope, Key, Option, Reply, Staff
from bot.outbox import MAX_UNCERTAIN, GiveUp, Outbox, OutcomeUnknown, RetryLater, SlidingWindow
from bot.store import open_store
from tests.support.transcript import Clock

USER = Key("telegram", "1")


async def queue(store, clock: Clock, destination, text: str, **options) -> int:
    async with store.transaction() as tx:
        return await tx.enqueue(Envelope(destination, Reply("k", text), **options), clock())


async def pending(store, clock: Clock) -> list:
    async with store.transaction() as tx:
        return await tx.due_outbox(clock() + timedelta(days=3650))


class Recorder:
    """A sender that records what it sent and fails as told (one failure per deliver call)."""

    def __init__(self):
        self.sent: list[tuple[str, str]] = []
        self.failures: list[Exception] = []
        self.calls = 0

    async def deliver(self, rows) -> None:
        self.calls += 1
        for row in rows:
            if self.failures:
                raise self.failures.pop(0)
            self.sent.append((str(row.destination), row.body.text))
            await row.sent()


async def make(tmp_path, **limits):
    store = await open_store(tmp_path / "o.db")
    clock = Clock()
    sender = Recorder()
    outbox = Outbox(store, clock)
    outbox.register("telegram", sender, limits.get("telegram"))
    outbox.register("staff", sender, limits.get("staff"))
    return store, clock, sender, outbox


async def test_outbox_sends_due_rows_once(tmp_path):
    """A due row is delivered and marked sent; draining again sends nothing more."""
    store, clock, sender, outbox = await make(tmp_path)
    await queue(store, clock, Staff(), "alert", kind="alert")
    await outbox.drain()
    await outbox.drain()
    assert sender.sent == [("staff", "alert")]
    assert await pending(store, clock) == []
    await store.close()


async def test_outbox_hands_a_destinations_rows_over_at_once_in_order(tmp_path):
    """Three rows for one chat reach the sender in one call, in the order they were written."""
    store, clock, sender, outbox = await make(tmp_path)
    for text in ("one", "two", "three"):
        await queue(store, clock, USER, text)
    await outbox.flush([USER])
    assert sender.sent == [("telegram:1", "one"), ("telegram:1", "two"), ("telegram:1", "three")]
    assert sender.calls == 1
    await store.close()


async def test_outbox_holds_rows_until_they_are_due(tmp_path):
    """A reminder for tomorrow waits until the clock reaches it."""
    store, clock, sender, outbox = await make(tmp_path)
    await queue(store, clock, USER, "remind", kind="reminder", not_before=clock() + timedelta(days=1))
    await outbox.drain()
    assert sender.sent == []
    clock.advance(days=1)
    await outbox.drain()
    assert sender.sent == [("telegram:1", "remind")]
    await store.close()


async def test_outbox_retry_after_is_honoured_and_nothing_overtakes(tmp_path):
    """Telegram's "retry after 30s" postpones the row and the one behind it by 30 s, then both go in order."""
    store, clock, sender, outbox = await make(tmp_path)
    await queue(store, clock, USER, "first")
    await queue(store, clock, USER, "second")
    sender.failures.append(RetryLater(30))
    await outbox.drain()
    clock.advance(seconds=29)
    await outbox.drain()
    assert sender.sent == []
    clock.advance(seconds=1)
    await outbox.drain()
    assert sender.sent == [("telegram:1", "first"), ("telegram:1", "second")]
    await store.close()


async def test_outbox_failures_back_off_and_are_not_dropped(tmp_path):
    """An unexpected error is retried later with a growing delay, and the row survives."""
    store, clock, sender, outbox = await make(tmp_path)
    await queue(store, clock, Staff(), "alert", kind="alert")
    sender.failures += [ConnectionError("down"), ConnectionError("still down")]
    await outbox.drain()
    (row,) = await pending(store, clock)
    assert row.attempts == 1
    clock.advance(seconds=1)
    await outbox.drain()
    clock.advance(seconds=2)
    await outbox.drain()
    assert sender.sent == [("staff", "alert")]
    await store.close()


async def test_outbox_give_up_is_kept_with_its_reason_and_the_next_row_goes(tmp_path):
    """A message the platform refuses for good is kept with its reason; the one behind it still goes."""
    store, clock, sender, outbox = await make(tmp_path)
    refused = await queue(store, clock, USER, "hello")
    await queue(store, clock, USER, "after")
    sender.failures.append(GiveUp("bot was blocked by the user"))
    await outbox.drain()
    assert sender.sent == [("telegram:1", "after")]
    assert await pending(store, clock) == []
    async with store.transaction() as tx:
        record = await tx.outbox_record(refused)
    assert record.sent_at and "blocked" in record.last_error
    await store.close()


async def test_outbox_group_limit_holds_only_that_destination(tmp_path):
    """The 21st staff message in a minute waits; a user's message behind it still goes."""
    store, clock, sender, outbox = await make(tmp_path, staff=lambda: SlidingWindow(20, timedelta(minutes=1)))
    for n in range(21):
        await queue(store, clock, Staff(), f"alert {n}", kind="alert")
    await queue(store, clock, USER, "reminder", kind="reminder")
    held = await outbox.drain()
    assert len([d for d, _ in sender.sent if d == "staff"]) == 20
    assert ("telegram:1", "reminder") in sender.sent
    assert 0 < held <= 60
    clock.advance(minutes=1)
    await outbox.drain()
    assert ("staff", "alert 20") in sender.sent
    await store.close()


async def test_outbox_cancelled_reminder_is_never_sent(tmp_path):
    """A pending row cancelled by its tag (an item marked done) does not go out."""
    store, clock, sender, outbox = await make(tmp_path)
    later = clock() + timedelta(hours=1)
    await queue(store, clock, USER, "remind", kind="reminder", not_before=later, tag="remind:x")
    async with store.transaction() as tx:
        assert await tx.cancel_outbox("remind:x") == 1
    clock.advance(hours=2)
    await outbox.drain()
    assert sender.sent == []
    await store.close()


async def test_outbox_a_route_without_a_sender_here_is_left_alone(tmp_path):
    """Rows for a channel this process does not run (LINE here) stay queued for the one that does."""
    store, clock, sender, outbox = await make(tmp_path)
    await queue(store, clock, Key("line", "U1"), "hi")
    await outbox.drain()
    assert sender.sent == [] and len(await pending(store, clock)) == 1
    await store.close()


async def test_outbox_a_stuck_destination_does_not_hold_up_the_others(tmp_path):
    """The worker sends one chat's row while another chat's send hangs, and never sends a row twice."""
    store, clock, _, outbox = await make(tmp_path)
    stuck, sent = asyncio.Event(), []

    class Hanging:
        async def deliver(self, rows):
            for row in rows:
                if row.destination == USER:
                    await stuck.wait()
                sent.append(row.body.text)
                await row.sent()

    outbox.register("telegram", Hanging())
    await queue(store, clock, USER, "stuck")
    await queue(store, clock, Key("telegram", "2"), "free")
    worker = asyncio.create_task(outbox.run())
    try:
        for _ in range(200):
            if sent:
                break
            await asyncio.sleep(0.01)
        assert sent == ["free"]
        # The direct path waits for the worker's send to that chat rather than sending again.
        flushing = asyncio.create_task(outbox.flush([USER]))
        await asyncio.sleep(0.05)
        assert not flushing.done()
        stuck.set()
        await asyncio.wait_for(flushing, 5)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert sent == ["free", "stuck"]
    await store.close()


async def test_outbox_stopping_lets_the_send_in_flight_finish_and_starts_no_other(tmp_path):
    """Cancelled while a row is with the platform: that call ends and is marked sent; the next
    row of the same destination is not started (it goes at the next start)."""
    store, clock, _, outbox = await make(tmp_path)
    gate, entered, delivered = asyncio.Event(), asyncio.Event(), []

    class Slow:
        async def deliver(self, rows):
            entered.set()
            await gate.wait()  # the platform has not answered yet
            delivered.append(rows[0].body.text)
            await rows[0].sent()

    outbox.register("telegram", Slow())
    await queue(store, clock, USER, "first")
    await queue(store, clock, USER, "second")
    worker = asyncio.create_task(outbox.run())
    await asyncio.wait_for(entered.wait(), 5)
    worker.cancel()
    await asyncio.sleep(0.1)
    assert not worker.done()  # waiting for the platform's answer, not cutting the call
    gate.set()
    await asyncio.wait_for(asyncio.gather(worker, return_exceptions=True), 5)
    assert delivered == ["first"]
    assert [r.envelope.body.text for r in await pending(store, clock)] == ["second"]
    await store.close()


async def test_outbox_stopping_does_not_wait_for_a_destination_held_by_its_limit(tmp_path):
    """A destination waiting for its rate limit is not a send in flight: stopping is at once."""
    store, clock, sender, outbox = await make(tmp_path, staff=lambda: SlidingWindow(1, timedelta(minutes=1)))
    await queue(store, clock, Staff(), "one", kind="alert")
    await queue(store, clock, Staff(), "two", kind="alert")
    worker = asyncio.create_task(outbox.run())
    for _ in range(50):
        if sender.sent:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)
    worker.cancel()
    await asyncio.wait_for(asyncio.gather(worker, return_exceptions=True), 2)
    assert sender.sent == [("staff", "one")]
    await store.close()


async def test_outbox_a_transient_failure_is_retried_within_a_second_then_less_often(tmp_path):
    """No "retry after" given (a timeout, a 5xx): the first retry comes half a second later
    (rounded up to the store's whole second), then after 1 s, then 2 s: a lost call costs a user
    about a second, and a platform that stays down is asked less and less often."""
    store, clock, sender, outbox = await make(tmp_path)
    await queue(store, clock, USER, "hello")
    sender.failures += [RetryLater(), RetryLater(), RetryLater()]
    waits = []
    for _ in range(3):
        await outbox.drain()
        assert len(await pending(store, clock)) == 1
        async with store.transaction() as tx:
            due = (await tx.next_outbox_time()) - clock()
        waits.append(due.total_seconds())
        clock.advance(seconds=due.total_seconds())
    await outbox.drain()
    assert waits == [1.0, 1.0, 2.0]
    assert sender.sent == [("telegram:1", "hello")]
    await store.close()


async def test_outbox_a_retry_after_is_never_cut_short_by_rounding(tmp_path):
    """ "Retry after 1" at 10:00:00.700 may go at 10:00:02, not at 10:00:01 (0.3 s early)."""
    store, clock, sender, outbox = await make(tmp_path)
    await queue(store, clock, USER, "hello")
    clock.advance(seconds=0.7)
    sender.failures.append(RetryLater(1))
    await outbox.drain()
    clock.advance(seconds=0.8)  # 1.5 s after the start: 0.8 s after the 429
    await outbox.drain()
    assert sender.sent == []
    clock.advance(seconds=0.5)
    await outbox.drain()
    assert sender.sent == [("telegram:1", "hello")]
    await store.close()


async def test_outbox_a_new_row_does_not_overtake_one_waiting_for_its_retry(tmp_path):
    """A reply written while an older one of the same chat waits out a 429 waits behind it."""
    store, clock, sender, outbox = await make(tmp_path)
    await queue(store, clock, USER, "first")
    sender.failures.append(RetryLater(30))
    await outbox.drain()
    await queue(store, clock, USER, "second")  # a later turn's reply
    await outbox.flush([USER])
    assert sender.sent == []
    clock.advance(seconds=30)
    await outbox.drain()
    assert sender.sent == [("telegram:1", "first"), ("telegram:1", "second")]
    await store.close()


class Noting(Recorder):
    """A sender that writes each attempt down before its call, as Telegram's does for a new
    message; `unknown` outcomes raise OutcomeUnknown after the call."""

    def __init__(self):
        super().__init__()
        self.unknown = 0

    async def deliver(self, rows) -> None:
        for row in rows:
            await row.attempt()
            self.calls += 1
            self.sent.append((str(row.destination), row.body.text))
            if self.unknown:
                self.unknown -= 1
                raise OutcomeUnknown()
            await row.sent()


async def test_outbox_a_row_of_unknown_outcome_is_sent_again_logged_then_given_up(tmp_path, caplog):
    """Each send of unknown outcome is followed by one more, logged once with the row and its
    destination; after MAX_UNCERTAIN of them the row is not sent again (an error says so) and
    the chat's next row goes."""
    store, clock, _, outbox = await make(tmp_path)
    sender = Noting()
    outbox.register("telegram", sender)
    row = await queue(store, clock, USER, "quote")
    await queue(store, clock, USER, "next")
    sender.unknown = MAX_UNCERTAIN
    caplog.set_level(logging.WARNING)
    for _ in range(MAX_UNCERTAIN + 1):
        await outbox.drain()
        clock.advance(seconds=60)
    assert sender.sent == [("telegram:1", "quote")] * MAX_UNCERTAIN + [("telegram:1", "next")]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"outbox {row} to telegram:1: sending again after {n} send(s) of unknown outcome; it may arrive twice"
        for n in range(1, MAX_UNCERTAIN)
    ]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"outbox {row} to telegram:1: {MAX_UNCERTAIN} sends of unknown outcome; not sending it again"
    ]
    async with store.transaction() as tx:
        assert "unknown outcome" in (await tx.outbox_record(row)).last_error
    await store.close()


async def test_outbox_a_row_superseded_after_it_was_read_is_not_sent(tmp_path):
    """A prompt read for sending, then superseded by a newer turn before its call: attempt()
    finds it done, it is skipped, and the row behind it goes."""
    store, clock, _, outbox = await make(tmp_path)
    sender = Noting()
    outbox.register("telegram", sender)
    prompt = Reply("quote/industry", "2/3 業種", (Option("quote.industry.retail", "小売業"),))
    async with store.transaction() as tx:
        row = await tx.enqueue(Envelope(USER, prompt), clock())
        await tx.postpone(row, "Telegram flood control", clock())  # late: it met a 429 before
    await queue(store, clock, USER, "after")
    real = sender.deliver

    async def superseded_first(rows):
        async with store.transaction() as tx:  # a newer turn commits meanwhile
            await tx.supersede_questions(USER, None, clock())
        outbox.senders["telegram"] = sender
        sender.deliver = real
        await real(rows)

    sender.deliver = superseded_first
    await outbox.drain()
    assert sender.sent == [("telegram:1", "after")]
    assert await pending(store, clock) == []
    await store.close()
