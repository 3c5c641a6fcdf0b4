"""A SQLite transaction cancelled at any point leaves the connection usable (issue 15).

aiosqlite runs each request in its own thread, in the order they were queued; cancelling the
task that awaits one does not take it back. A `transaction()` cancelled after its BEGIN was
queued used to leave the connection inside that transaction once the thread ran it, and every
later unit of work failed with "cannot start a transaction within a transaction".

The tests hold the database thread (a request that waits on an event) just before the unit's
n-th request, and cancel the unit while that request is queued behind it: no timing involved.
"""

import asyncio
import threading

import pytest

from bot.messages import Key
from bot.store.sqlite import SqliteStore
from tests.support.transcript import Clock

NOW = Clock()()
A, B = Key("console", "a"), Key("console", "b")


async def _in_thread(store, fn):
    return await store._db._execute(fn)


# The unit below queues three requests: 1 BEGIN, 2 its one statement, 3 COMMIT.
@pytest.mark.parametrize("cut", [1, 2, 3], ids=["at BEGIN", "at a statement", "at COMMIT"])
async def test_sqlite_a_transaction_cancelled_while_its_request_is_queued_leaves_the_connection_usable(
    tmp_path, cut
):
    store = await SqliteStore.open(tmp_path / "q.db")
    db, loop = store._db, asyncio.get_running_loop()
    gate = threading.Event()
    real = db._tx  # the thread's queue (a SimpleQueue: its methods cannot be replaced)

    class Noting:  # stands in for it where requests are queued, counting them
        count = 0

        def put_nowait(self, item):
            self.count += 1
            if self.count == cut:  # the thread waits before this one, until the unit is cancelled
                real.put_nowait((held, gate.wait))
                queued.set()
            real.put_nowait(item)

    queued = asyncio.Event()
    try:
        held = loop.create_future()
        db._tx = Noting()

        async def unit():
            async with store.transaction() as tx:
                await tx.save_conversation(A, {"v": 1}, NOW)

        task = asyncio.create_task(unit())
        await queued.wait()  # the unit is now awaiting its cut-th request, which is queued
        task.cancel()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        await held
        db._tx = real

        async with store.transaction() as tx:  # failed with "within a transaction" before the fix
            await tx.save_conversation(B, {"v": 2}, NOW)
        async with store.transaction() as tx:
            assert (await tx.load_conversation(B)).state == {"v": 2}
            # A COMMIT already queued still runs (the caller cannot tell): A is written then;
            # cancelled earlier, its unit is rolled back.
            assert (await tx.load_conversation(A) is not None) == (cut == 3)
        assert await _in_thread(store, lambda: db._conn.in_transaction) is False
    finally:
        gate.set()
        db._tx = real
        await store.close()
