"""The outbox: queued messages go out once, wait when told to, retry on failure, never vanish."""

from datetime import timedelta

from bot.outbox import GiveUp, OutboxWorker, RetryLater, SlidingWindow
from bot.store import Store
from tests.support.transcript import Clock


async def queue(store: Store, clock: Clock, destination: str, text: str, **options) -> int:
    async with store.transaction() as tx:
        return await tx.enqueue(destination, {"text": text}, clock(), **options)


async def pending(store: Store, clock: Clock) -> list[dict]:
    async with store.transaction() as tx:
        return await tx.due_outbox(clock() + timedelta(days=3650), ("telegram:", "staff"))


class Recorder:
    """A deliver() that records what it sent and fails as told."""

    def __init__(self):
        self.sent: list[tuple[str, str]] = []
        self.failures: list[Exception] = []

    async def __call__(self, row: dict) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((row["destination"], row["payload"]["text"]))


async def make(tmp_path, **limits):
    store = await Store.open(tmp_path / "o.db")
    clock = Clock()
    deliver = Recorder()
    worker = OutboxWorker(store, clock, ("telegram:", "staff"), deliver, limits=limits)
    return store, clock, deliver, worker


async def test_outbox_sends_due_rows_once(tmp_path):
    """A due row is delivered and marked sent; draining again sends nothing more."""
    store, clock, deliver, worker = await make(tmp_path)
    await queue(store, clock, "staff", "alert")
    await worker.drain()
    await worker.drain()
    assert deliver.sent == [("staff", "alert")]
    assert await pending(store, clock) == []
    await store.close()


async def test_outbox_holds_rows_until_they_are_due(tmp_path):
    """A reminder for tomorrow waits until the clock reaches it."""
    store, clock, deliver, worker = await make(tmp_path)
    await queue(store, clock, "telegram:1", "remind", not_before=clock() + timedelta(days=1))
    await worker.drain()
    assert deliver.sent == []
    clock.advance(days=1)
    await worker.drain()
    assert deliver.sent == [("telegram:1", "remind")]
    await store.close()


async def test_outbox_retry_after_is_honoured(tmp_path):
    """Telegram's "retry after 30s" postpones the row by 30 seconds, then it goes."""
    store, clock, deliver, worker = await make(tmp_path)
    await queue(store, clock, "staff", "alert")
    deliver.failures.append(RetryLater(30))
    await worker.drain()
    clock.advance(seconds=29)
    await worker.drain()
    assert deliver.sent == []
    clock.advance(seconds=1)
    await worker.drain()
    assert deliver.sent == [("staff", "alert")]
    await store.close()


async def test_outbox_failures_back_off_and_are_not_dropped(tmp_path):
    """An unexpected error is retried later with a growing delay, and the row survives."""
    store, clock, deliver, worker = await make(tmp_path)
    await queue(store, clock, "staff", "alert")
    deliver.failures += [ConnectionError("down"), ConnectionError("still down")]
    await worker.drain()
    (row,) = await pending(store, clock)
    assert row["attempts"] == 1
    clock.advance(seconds=1)
    await worker.drain()
    clock.advance(seconds=2)
    await worker.drain()
    assert deliver.sent == [("staff", "alert")]
    await store.close()


async def test_outbox_give_up_is_kept_with_its_reason(tmp_path):
    """A message the platform refuses for good is not retried forever, and not deleted."""
    store, clock, deliver, worker = await make(tmp_path)
    await queue(store, clock, "telegram:9", "hello")
    deliver.failures.append(GiveUp("bot was blocked by the user"))
    await worker.drain()
    assert await pending(store, clock) == []
    async with store.transaction() as tx:
        row = await tx._one("SELECT sent_at, last_error FROM outbox")
    assert row["sent_at"] and "blocked" in row["last_error"]
    await store.close()


async def test_outbox_group_limit_holds_only_that_destination(tmp_path):
    """The 21st staff message in a minute waits; a user's reminder behind it still goes."""
    store, clock, deliver, worker = await make(
        tmp_path, staff=lambda: SlidingWindow(20, timedelta(minutes=1))
    )
    for n in range(21):
        await queue(store, clock, "staff", f"alert {n}")
    await queue(store, clock, "telegram:5", "reminder")
    held = await worker.drain()
    assert len([d for d, _ in deliver.sent if d == "staff"]) == 20
    assert ("telegram:5", "reminder") in deliver.sent
    assert 0 < held <= 60
    clock.advance(minutes=1)
    await worker.drain()
    assert ("staff", "alert 20") in deliver.sent
    await store.close()


async def test_outbox_cancelled_reminder_is_never_sent(tmp_path):
    """A pending row cancelled by its tag (an item marked done) does not go out."""
    store, clock, deliver, worker = await make(tmp_path)
    await queue(
        store,
        clock,
        "telegram:1",
        "remind",
        not_before=clock() + timedelta(hours=1),
        tag="remind:x",
    )
    async with store.transaction() as tx:
        assert await tx.cancel_outbox("remind:x") == 1
    clock.advance(hours=2)
    await worker.drain()
    assert deliver.sent == []
    await store.close()
