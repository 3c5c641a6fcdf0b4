"""Where the SQLite store runs its statements (issue 15; bot/store/sqlite.py's docstring).

A turn's statements run on the event loop and only the COMMIT that waits for the fsync goes to
the database thread: handing every statement to the thread cost more than half the CPU of an
update. That must never cost the event loop a wait: a file another process has locked (`quotebot
purge` beside the running bot) is waited for in the thread, and the loop serves everyone else
meanwhile. And the two never use the connection at once, even when a caller is cancelled twice.
"""

import asyncio
import sqlite3
import threading
import time

from bot.messages import Envelope, Key, Reply
from bot.store.sqlite import SqliteStore
from tests.support.transcript import Clock

NOW = Clock()()
A, B = Key("console", "a"), Key("console", "b")


async def _save(store: SqliteStore, key: Key, state: dict) -> None:
    async def work(tx):
        await tx.save_conversation(key, state, NOW)

    await store.unit(work)


async def _state(store: SqliteStore, key: Key) -> dict | None:
    async with store.transaction() as tx:
        row = await tx.load_conversation(key)
    return row.state if row else None


async def test_sqlite_a_turns_statements_run_here_and_only_its_commit_in_the_database_thread(tmp_path):
    store = await SqliteStore.open(tmp_path / "q.db")
    seen: list[tuple[str, int]] = []
    here = threading.get_ident()
    try:

        def statement(sql: str) -> None:
            seen.append((sql.split()[0].upper(), threading.get_ident()))

        store._db._conn.set_trace_callback(statement)
        await _save(store, A, {"v": 1})
        store._db._conn.set_trace_callback(None)
        verbs = [verb for verb, _ in seen if not verb.startswith("PRAGMA")]
        assert verbs[0] == "BEGIN" and verbs[-1] == "COMMIT" and "INSERT" in verbs
        elsewhere = [verb for verb, thread in seen if thread != here]
        assert elsewhere == ["COMMIT"]
        assert await _state(store, A) == {"v": 1}
    finally:
        await store.close()


async def test_sqlite_a_file_another_process_locked_is_waited_for_without_holding_up_the_loop(tmp_path):
    """Another connection holds the write lock for 0.3 s. A turn's unit and a mark of a sent
    message wait for it (busy_timeout) in the database thread; the event loop meanwhile keeps
    its 10 ms ticks. Run here with the 5 s busy_timeout, each would have frozen the loop."""
    path = tmp_path / "q.db"
    store = await SqliteStore.open(path)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with store.transaction() as tx:
            row = await tx.enqueue(_envelope(), NOW)
        other.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        began = time.monotonic()
        unit = asyncio.create_task(_save(store, A, {"v": 1}))
        mark = asyncio.create_task(store.mark_sent(row, NOW))
        await asyncio.sleep(0.3)
        assert not unit.done() and not mark.done()  # still waiting for the lock
        other.execute("COMMIT")
        await asyncio.wait_for(asyncio.gather(unit, mark), 5)
        ticker.cancel()
        assert time.monotonic() - began < 2
        assert ticks >= 15  # ~30 in 0.3 s; a loop frozen while waiting gets none in that time
        assert await _state(store, A) == {"v": 1}
        async with store.transaction() as tx:
            assert (await tx.outbox_record(row)).sent_at is not None
    finally:
        other.close()
        await store.close()


async def test_sqlite_a_transaction_cancelled_twice_is_undone_before_a_turn_uses_the_connection(tmp_path):
    """The database thread is held while a `transaction()`'s BEGIN waits in its queue; the
    transaction is cancelled, and cancelled again while its undo waits there too; a turn's unit
    is started at once. The unit runs its statements only after the thread has begun and undone
    that transaction: before, the second cancel let the lock go while the thread still had the
    BEGIN to run, and the connection was in two transactions at once."""
    store = await SqliteStore.open(tmp_path / "q.db")
    db, loop = store._db, asyncio.get_running_loop()
    gate, held = threading.Event(), loop.create_future()
    try:
        db._tx.put_nowait((held, gate.wait))  # the thread waits here until the gate opens

        async def cancelled_unit():
            async with store.transaction() as tx:
                await tx.save_conversation(B, {"v": 0}, NOW)

        task = asyncio.create_task(cancelled_unit())
        await asyncio.sleep(0.05)  # its BEGIN is queued behind the held request
        task.cancel()
        await asyncio.sleep(0.05)  # now it waits for its undo, queued behind the BEGIN
        task.cancel()
        turn = asyncio.create_task(_save(store, A, {"v": 1}))
        await asyncio.sleep(0.05)
        assert not task.done() and not turn.done()  # both wait for the thread, the turn for the lock
        gate.set()
        await held
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)
        assert task.cancelled()
        await asyncio.wait_for(turn, 5)
        assert await _state(store, A) == {"v": 1}
        assert await _state(store, B) is None
        assert db._conn.in_transaction is False
    finally:
        gate.set()
        await store.close()


def _envelope() -> Envelope:
    return Envelope(A, Reply("common/help", "help"), kind="reply")
