"""The SQLite backend of the store (bot/store/__init__.py has the protocol every backend meets).

Only the store backends import aiosqlite. One connection in WAL mode; every unit of work is a
`BEGIN IMMEDIATE` transaction under one asyncio lock, so a caller that has left
`transaction()` knows its writes are committed (synchronous=FULL) before it replies, and
transactions run one at a time. Schema changes are numbered SQL files in bot/migrations,
applied in order at open.

Where the statements run. A turn's statements are keyed lookups and small writes on a file the
page cache holds: microseconds each. Handing each to aiosqlite's thread and back cost more than
the statements (thread wake-ups, the GIL changing hands; it was more than half the CPU of an
update), so the turns (`unit`) and the marks of messages sent run here, on the event loop, and
only what waits for the disk goes to the database thread: a COMMIT that wrote (its fsync), the
WAL's fsync, the migrations, and the ordinary `transaction()`s (the outbox worker's reads,
retention in batches, exports), whose length is not bounded by a turn's. A file locked by
another process (`quotebot purge` beside a running bot) is waited for in the thread too, never
here. The two never use the connection at once: every use is under the lock, and a call handed
to the thread is waited for to its end before the lock is let go, even when its caller is
cancelled.

One write is not fsync'd when it commits: `mark_sent`, the note that a message went out. It is
committed with synchronous=NORMAL: written to the WAL (so a kill -9 the instant after keeps it,
as the operating system has it), and made power-safe by the next FULL commit's fsync of the
WAL, or by MARK_SYNC_AFTER seconds later at most (an fsync of the WAL file, what FULL does).
What a power loss can cost: the marks of the messages sent in that last fraction of a second,
which are then sent once more after the restart. Every update and every message to send is
still fsync'd before it is confirmed or sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import aiosqlite

from bot.store import (
    CommitFailed,
    StoreError,
    utc_text,
)
from bot.store.sqlite_queries import SqliteTransaction, _Here

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


GROUP_MAX = 64  # units of work committed together at most (one fsync for all of them)
BUSY_TIMEOUT_MS = 5000  # how long the database thread waits for a file another process has locked
# A mark-sent committed without fsync is fsync'd this soon at the latest (see the docstring).
MARK_SYNC_AFTER = 0.1


class _WouldWait(Exception):
    """A unit of work awaited something other than the transaction: run it the async way."""


def _drive(coroutine):
    """Run a coroutine that never suspends (it awaits only `_Here` calls) to its end, here."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise _WouldWait


async def _to_the_end(future: asyncio.Future):
    """Its result, waiting for it to end even when the caller is cancelled meanwhile (the
    cancel is raised after): a call handed to the database thread runs there anyway, and the
    connection must not be used here until it has."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        future.exception()  # retrieved: the cancel is what the caller sees
        raise asyncio.CancelledError
    return future.result()


def _busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _migrations() -> list[tuple[int, Path]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise StoreError(f"badly named migration {path.name}")
        found.append((int(match.group(1)), path))
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise StoreError(f"migrations must be numbered 1..n without gaps: {numbers}")
    return found


class SqliteStore:
    """Open with `await SqliteStore.open(path)` (or `bot.store.open_store`); close with `close()`."""

    def __init__(self, db: aiosqlite.Connection, path: str):
        self._db = db
        self.path = path
        self.description = f"SQLite {path}"
        self._lock = asyncio.Lock()  # one unit of work at a time on the one connection
        self._group: list[tuple[Callable, asyncio.Future]] = []  # units waiting for the next group
        self._committer: asyncio.Task | None = None
        self._unsynced = 0  # marks committed since the WAL was last fsync'd
        self._sync_timer: asyncio.TimerHandle | None = None

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStore:
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            # Used here and in aiosqlite's thread, never by both at once (see the docstring).
            db = await aiosqlite.connect(path, isolation_level=None, check_same_thread=False)
        except Exception as e:  # sqlite3.OperationalError and friends
            raise StoreError(f"cannot open database {path}: {e}") from None
        db.row_factory = aiosqlite.Row
        store = cls(db, path)
        try:
            await store._configure()
            await store._migrate()
        except BaseException:
            await db.close()  # a refused file must not leave its connection thread behind
            raise
        return store

    async def close(self) -> None:
        if self._sync_timer is not None:
            self._sync_timer.cancel()
            self._sync_timer = None
        try:
            if self._unsynced:  # a clean stop leaves every mark power-safe
                async with self._lock:
                    await self._thread(self._fsync_wal)
        finally:
            await self._db.close()

    async def _configure(self) -> None:
        await self._db.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit survives power loss too, not only a crash of this process.
        await self._db.execute("PRAGMA synchronous = FULL")
        await self._db.execute("PRAGMA foreign_keys = ON")
        await self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cursor:
            (version,) = await cursor.fetchone()
        migrations = _migrations()
        if version > len(migrations):
            raise StoreError(f"database schema {version} is newer than this program ({len(migrations)})")
        for number, path in migrations[version:]:
            script = path.read_text(encoding="utf-8")
            # executescript commits as it goes: bump the version inside the same script.
            await self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")

    async def schema_version(self) -> int:
        async with self._lock:
            return (await self._thread(lambda: self._db._conn.execute("PRAGMA user_version").fetchone()))[0]

    async def _thread(self, fn: Callable, *args):
        """fn(*args) in the database thread, to its end (see `_to_the_end`). Under the lock."""
        return await _to_the_end(asyncio.ensure_future(self._db._execute(fn, *args)))

    async def _here_unless_locked(self, fn: Callable, *args):
        """fn(*args) here, at once, when no other process holds the file's write lock (one short
        statement); else in the database thread, which waits for the lock (busy_timeout) without
        holding up the event loop. `fn` must do nothing before the statement that may find the
        file locked, or be safe to run again. Under the lock."""
        conn = self._db._conn
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            return fn(*args)
        except sqlite3.OperationalError as e:
            if not _busy(e):
                raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return await self._thread(fn, *args)

    async def mark_sent(self, outbox_id: int, now: datetime) -> None:
        """One statement, committed by itself, without waiting for an fsync (see the docstring):
        a kill -9 keeps it at once, a power loss once the WAL is fsync'd, soon after."""
        async with self._lock:
            await self._here_unless_locked(self._mark_unsynced, outbox_id, utc_text(now))
        if self._sync_timer is None and self._unsynced:
            loop = asyncio.get_running_loop()
            self._sync_timer = loop.call_later(MARK_SYNC_AFTER, lambda: loop.create_task(self._sync_marks()))

    def _mark_unsynced(self, outbox_id: int, stamp: str) -> None:
        """The mark, committed with synchronous=NORMAL (no fsync to wait for)."""
        conn = self._db._conn
        conn.execute("PRAGMA synchronous = NORMAL")
        try:
            conn.execute("UPDATE envelopes SET sent_at = ? WHERE id = ?", (stamp, outbox_id))
            self._unsynced += self.path != ":memory:"  # a file in memory has no disk to reach
        finally:
            conn.execute("PRAGMA synchronous = FULL")

    async def _sync_marks(self) -> None:
        """Make the marks power-safe if no FULL commit has done it since."""
        self._sync_timer = None
        if self._unsynced:
            try:
                async with self._lock:
                    await self._thread(self._fsync_wal)
            except Exception:  # closed meanwhile (close() syncs), or the disk failed
                log.exception("could not fsync the WAL after marking messages sent")

    def _fsync_wal(self) -> None:
        """In the database thread: fsync the WAL, as a FULL commit does after writing it; every
        frame written before is then on the disk."""
        if not self._unsynced:
            return
        fd = os.open(f"{self.path}-wal", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._unsynced = 0

    async def note_attempt(self, outbox_id: int) -> int | None:
        def note() -> int | None:
            conn = self._db._conn
            # Durable against this process being killed without waiting for the disk: in WAL
            # mode a commit under synchronous=NORMAL is in the file (the OS's cache) at once.
            conn.execute("PRAGMA synchronous = NORMAL")
            try:
                row = conn.execute(
                    "UPDATE envelopes SET uncertain = uncertain + 1 WHERE id = ? AND sent_at IS NULL"
                    " RETURNING uncertain",
                    (outbox_id,),
                ).fetchone()
            finally:
                conn.execute("PRAGMA synchronous = FULL")
            return row[0] if row else None

        async with self._lock:  # one statement, committed by itself (autocommit), no fsync
            return await self._here_unless_locked(note)

    async def unit(self, work: Callable[[SqliteTransaction], Awaitable]):
        """`await work(tx)` as one unit of work, run whole on the event loop (no round trip to the
        database thread for its statements), committed with the units submitted while the group before it
        was committing (group commit: one fsync for all). Returns what `work` returned once its
        group is committed; raises what `work` raised (its writes undone, the others' kept), or
        CommitFailed if the group's commit failed (nothing of the group written).

        `work` must await only the transaction's methods; one that awaits anything else is run
        again the ordinary way, in a transaction of its own."""
        future = asyncio.get_running_loop().create_future()
        self._group.append((work, future))
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_groups(), name="sqlite group commit")
        try:
            return await future
        except _WouldWait:
            async with self.transaction() as tx:
                return await work(tx)

    async def _commit_groups(self) -> None:
        try:
            await asyncio.sleep(0)  # units submitted in this same pass of the event loop join in
            while self._group:
                group, self._group = self._group[:GROUP_MAX], self._group[GROUP_MAX:]
                async with self._lock:
                    try:
                        outcomes = await self._run_group([work for work, _ in group])
                    except Exception as e:
                        failed = CommitFailed(f"group of {len(group)} not committed: {e}")
                        for _, future in group:
                            if not future.done():
                                future.set_exception(failed)
                        continue
                for (_, future), (ok, value) in zip(group, outcomes, strict=True):
                    if not future.done():
                        future.set_result(value) if ok else future.set_exception(value)
        finally:
            self._committer = None

    async def _run_group(self, works: list[Callable]) -> list[tuple[bool, object]]:
        """BEGIN, each unit in a savepoint, here on the event loop; the COMMIT in the database
        thread when the group wrote (it waits for the fsync), else here (nothing to wait for)."""
        conn = self._db._conn
        tx = SqliteTransaction(_Here(conn))
        changes = conn.total_changes
        await self._here_unless_locked(conn.execute, "BEGIN IMMEDIATE")
        try:
            outcomes: list[tuple[bool, object]] = []
            for work in works:
                conn.execute("SAVEPOINT unit")
                try:
                    outcomes.append((True, _drive(work(tx))))
                except Exception as e:
                    conn.execute("ROLLBACK TO unit")
                    outcomes.append((False, e))
                conn.execute("RELEASE unit")
            if conn.total_changes == changes:
                conn.execute("COMMIT")
            else:
                await self._thread(self._commit, conn)
                self._unsynced = 0  # a FULL commit that wrote fsync'd the WAL, and the marks before it
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes

    def _commit(self, conn: sqlite3.Connection) -> None:
        """In the database thread: a group's COMMIT, which waits for the WAL's fsync."""
        conn.execute("COMMIT")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTransaction]:
        """One unit of work: committed on a clean exit, rolled back on any exception.

        Cancelled at any point, the connection is left usable. aiosqlite's thread runs every
        request queued to it, in order, even when the task awaiting it was cancelled: a BEGIN
        queued and then cancelled still begins, so the BEGIN is inside the `try` and the undo
        (queued behind it, so run after it) rolls back whatever is open by then. A COMMIT
        already queued still commits; a COMMIT that fails rolls back (the next BEGIN would
        fail otherwise)."""
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                yield SqliteTransaction(self._db)
            except BaseException:
                await self._thread(self._undo)
                raise
            await self._thread(self._commit_or_undo)

    def _undo(self) -> None:
        """In the database thread: roll back the transaction open, if any (a BEGIN that failed
        opened none)."""
        conn = self._db._conn
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def _commit_or_undo(self) -> None:
        conn = self._db._conn
        try:
            conn.execute("COMMIT")
        except BaseException:
            self._undo()
            raise
