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
import json
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import aiosqlite

from bot.messages import Destination, Envelope, Inbound, Key, Staff, destination_text
from bot.store import (
    EVENT_MEMORY,
    FAILING_ATTEMPTS,
    OPS_FIGURES,
    PROMPT_LATE_AFTER,
    SENT_MEMORY,
    TRANSCRIPT_CHARS,
    TRANSCRIPT_KEEP,
    CommitFailed,
    ConversationRow,
    InboxItem,
    OutboxRecord,
    StoreError,
    utc_text,
)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Where personal data about a conversation lives: deleted on request and after retention.
# The conversation itself goes last, since purge() finds the stale ones through it.
_PERSONAL = (
    ("quotes", "conversation"),
    ("incidents", "conversation"),
    ("tickets", "conversation"),
    ("topics", "conversation"),
    ("transcript", "conversation"),
    ("conversations", "key"),
)
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


class _Here:
    """aiosqlite's calls that SqliteTransaction makes, made directly on the sqlite3 connection,
    for a unit of work that runs whole here, on the event loop: each returns at once, so the
    unit never suspends and costs no round trip to the database thread."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    async def execute(self, sql: str, params=()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    async def execute_fetchall(self, sql: str, params=()) -> list:
        return self._conn.execute(sql, params).fetchall()

    async def executemany(self, sql: str, rows) -> sqlite3.Cursor:
        return self._conn.executemany(sql, rows)


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


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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


def _in(column: str, values: Collection[str]) -> tuple[str, tuple]:
    return f"{column} IN ({', '.join('?' for _ in values)})", tuple(values)


def _record(row) -> OutboxRecord:
    return OutboxRecord(
        row["id"],
        Envelope.from_json(json.loads(row["envelope"])),
        row["attempts"],
        row["last_error"],
        row["sent_at"],
        row["uncertain"],
    )


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


class SqliteTransaction:
    """The queries the bot makes, all inside one open transaction (see bot.store.Transaction)."""

    def __init__(self, db: aiosqlite.Connection | _Here):
        self._db = db

    # One round trip to the database thread each (execute + fetch + close would be three).
    async def _one(self, sql: str, params=()) -> aiosqlite.Row | None:
        rows = await self._db.execute_fetchall(sql, params)
        return rows[0] if rows else None

    async def _all(self, sql: str, params=()) -> list[aiosqlite.Row]:
        return list(await self._db.execute_fetchall(sql, params))

    # -- inbox --------------------------------------------------------------------------------

    async def add_inbound(self, inbound: Inbound, now: datetime) -> int | None:
        row = await self._one(
            "INSERT INTO inbox (event_id, conversation, ord, inbound, received_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            (
                inbound.event_id,
                str(inbound.conversation),
                inbound.order,
                _json(inbound.to_json()),
                utc_text(now),
            ),
        )
        return row[0] if row else None

    async def pending_conversations(self, limit: int = 100) -> list[Key]:
        rows = await self._all(
            "SELECT conversation FROM inbox WHERE done_at IS NULL"
            " GROUP BY conversation ORDER BY MIN(id) LIMIT ?",
            (limit,),
        )
        return [Key.parse(r["conversation"]) for r in rows]

    async def hold_conversation(self, key: Key) -> None:
        """Nothing to do: one transaction at a time holds the whole database."""

    async def next_inbound(self, conversation: Key) -> InboxItem | None:
        row = await self._one(
            "SELECT id, inbound, received_at FROM inbox WHERE conversation = ? AND done_at IS NULL"
            " ORDER BY ord, id LIMIT 1",
            (str(conversation),),
        )
        if row is None:
            return None
        return InboxItem(row["id"], Inbound.from_json(json.loads(row["inbound"])), row["received_at"])

    async def inbound_done(self, item_id: int, now: datetime, *, error: str | None = None) -> None:
        await self._db.execute(
            "UPDATE inbox SET done_at = ?, error = ?, inbound = NULL WHERE id = ?",
            (utc_text(now), error[:500] if error else None, item_id),
        )

    async def overflow(self, conversation: Key, keep: int, now: datetime) -> int:
        cursor = await self._db.execute(
            "UPDATE inbox SET done_at = ?, error = 'flood', inbound = NULL WHERE id IN (SELECT id"
            " FROM inbox WHERE conversation = ? AND done_at IS NULL"
            " AND json_extract(inbound, '$.from_staff') IS NULL ORDER BY ord, id LIMIT -1 OFFSET ?)",
            (utc_text(now), str(conversation), keep),
        )
        return cursor.rowcount

    # -- conversations ------------------------------------------------------------------------

    async def load_conversation(self, key: Key) -> ConversationRow | None:
        row = await self._one("SELECT * FROM conversations WHERE key = ?", (str(key),))
        if row is None:
            return None
        return ConversationRow(key, json.loads(row["state"]), row["created_at"], row["updated_at"])

    async def save_conversation(self, key: Key, state: dict, now: datetime) -> None:
        stamp = utc_text(now)
        await self._db.execute(
            "INSERT INTO conversations (key, channel, state, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key)"
            " DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            (str(key), key.channel, _json(state), stamp, stamp),
        )

    # -- references and quotes ----------------------------------------------------------------

    async def next_reference(self, prefix: str, local_day: str) -> str:
        name = f"{prefix}-{local_day}"
        row = await self._one(
            "INSERT INTO counters (name, value) VALUES (?, 1)"
            " ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            (name,),
        )
        return f"{name}-{row[0]:04d}"

    async def save_quote(self, ref: str, conversation: Key, quote: dict, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO quotes (ref, conversation, created_at, quote) VALUES (?, ?, ?, ?)",
            (ref, str(conversation), utc_text(now), json.dumps(quote, ensure_ascii=False)),
        )

    async def quotes_for(self, conversation: Key, limit: int = 10) -> list[dict]:
        rows = await self._all(
            "SELECT ref, created_at, quote FROM quotes WHERE conversation = ?"
            " ORDER BY created_at DESC, ref DESC LIMIT ?",
            (str(conversation), limit),
        )
        return [
            {"ref": r["ref"], "created_at": r["created_at"], "quote": json.loads(r["quote"])} for r in rows
        ]

    # -- incidents ----------------------------------------------------------------------------

    async def save_incident(self, ref: str, conversation: Key, record: dict, now: datetime) -> None:
        stamp = utc_text(now)
        await self._db.execute(
            "INSERT INTO incidents (ref, conversation, created_at, updated_at, record)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (ref)"
            " DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at",
            (ref, str(conversation), stamp, stamp, json.dumps(record, ensure_ascii=False)),
        )

    async def incident(self, ref: str) -> tuple[Key, dict] | None:
        row = await self._one("SELECT conversation, record FROM incidents WHERE ref = ?", (ref,))
        return (Key.parse(row["conversation"]), json.loads(row["record"])) if row else None

    async def incidents_for(self, conversation: Key, limit: int = 5) -> list[dict]:
        rows = await self._all(
            "SELECT ref, record FROM incidents WHERE conversation = ?"
            " ORDER BY created_at DESC, ref DESC LIMIT ?",
            (str(conversation), limit),
        )
        return [{"ref": r["ref"], **json.loads(r["record"])} for r in rows]

    # -- outbox -------------------------------------------------------------------------------

    async def enqueue(self, envelope: Envelope, now: datetime) -> int:
        row = await self._one(
            # Not before a row of the same destination that failed and waits for its retry: a
            # new message never overtakes an older one (postpone holds the rows already there).
            "INSERT INTO envelopes"
            " (destination, route, kind, envelope, tag, not_before, created_at, question)"
            " VALUES (?1, ?2, ?3, ?4, ?5, max(?6, coalesce((SELECT max(not_before) FROM envelopes"
            "   WHERE destination = ?1 AND sent_at IS NULL AND attempts > 0), '')), ?7, ?8) RETURNING id",
            (
                destination_text(envelope.destination),
                envelope.route,
                envelope.kind,
                _json(envelope.to_json()),
                envelope.tag,
                utc_text(envelope.not_before or now),
                utc_text(now),
                envelope.question,
            ),
        )
        return row[0]

    async def supersede_questions(self, conversation: Key, open_question: str | None, now: datetime) -> int:
        cursor = await self._db.execute(
            "UPDATE envelopes SET sent_at = ?1, last_error = 'superseded' WHERE destination = ?2"
            " AND sent_at IS NULL AND question IS NOT NULL AND question IS NOT ?3"
            " AND (attempts > 0 OR uncertain > 0 OR not_before > created_at OR created_at <= ?4"
            "   OR json_extract(envelope, '$.body.replaces') = 1)",
            (utc_text(now), str(conversation), open_question, utc_text(now - PROMPT_LATE_AFTER)),
        )
        return cursor.rowcount

    async def cancel_outbox(self, tag: str) -> int:
        cursor = await self._db.execute("DELETE FROM envelopes WHERE tag = ? AND sent_at IS NULL", (tag,))
        return cursor.rowcount

    async def due_outbox(
        self,
        now: datetime,
        *,
        routes: Collection[str] | None = None,
        destination: Destination | None = None,
        limit: int = 200,
    ) -> list[OutboxRecord]:
        where, params = ["sent_at IS NULL", "not_before <= ?"], [utc_text(now)]
        if routes is not None:
            clause, values = _in("route", routes or ("",))
            where.append(clause)
            params += values
        if destination is not None:
            where.append("destination = ?")
            params.append(destination_text(destination))
        rows = await self._all(
            f"SELECT * FROM envelopes WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", (*params, limit)
        )
        return [_record(r) for r in rows]

    async def next_outbox_time(self, routes: Collection[str] | None = None) -> datetime | None:
        clause, values = _in("route", routes or ("",)) if routes is not None else ("1", ())
        row = await self._one(
            f"SELECT MIN(not_before) FROM envelopes WHERE sent_at IS NULL AND {clause}", values
        )
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    async def mark_sent(self, outbox_id: int, now: datetime, *, error: str | None = None) -> None:
        await self._db.execute(
            "UPDATE envelopes SET sent_at = ?, last_error = ? WHERE id = ?",
            (utc_text(now), error[:500] if error else None, outbox_id),
        )

    async def postpone(
        self, outbox_id: int, error: str, at: datetime, *, uncertain: int | None = None
    ) -> None:
        row = await self._one(
            "UPDATE envelopes SET attempts = attempts + 1, last_error = ?, not_before = ?,"
            " uncertain = coalesce(?, uncertain) WHERE id = ? RETURNING destination",
            (error[:500], utc_text(at), uncertain, outbox_id),
        )
        if row is not None:
            await self._db.execute(
                "UPDATE envelopes SET not_before = ? WHERE destination = ? AND sent_at IS NULL"
                " AND id > ? AND not_before < ?",
                (utc_text(at), row["destination"], outbox_id, utc_text(at)),
            )

    async def outbox_record(self, outbox_id: int) -> OutboxRecord | None:
        row = await self._one("SELECT * FROM envelopes WHERE id = ?", (outbox_id,))
        return _record(row) if row else None

    # -- handoff: tickets, topics, transcript --------------------------------------------------

    async def open_ticket(self, conversation: Key, now: datetime) -> tuple[int, bool]:
        row = await self._one(
            "SELECT id FROM tickets WHERE conversation = ? AND closed_at IS NULL", (str(conversation),)
        )
        if row:
            return row["id"], False
        cursor = await self._db.execute(
            "INSERT INTO tickets (conversation, opened_at) VALUES (?, ?)",
            (str(conversation), utc_text(now)),
        )
        return cursor.lastrowid, True

    async def ticket(self, ticket_id: int) -> dict | None:
        row = await self._one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        if row is None:
            return None
        return {
            **dict(row),
            "conversation": Key.parse(row["conversation"]),
            "notes": json.loads(row["notes"]),
        }

    async def open_ticket_of(self, conversation: Key) -> dict | None:
        row = await self._one(
            "SELECT id FROM tickets WHERE conversation = ? AND closed_at IS NULL", (str(conversation),)
        )
        return await self.ticket(row["id"]) if row else None

    async def ticket_answered(self, ticket_id: int, now: datetime) -> bool:
        cursor = await self._db.execute(
            "UPDATE tickets SET answered_at = ? WHERE id = ? AND answered_at IS NULL",
            (utc_text(now), ticket_id),
        )
        return cursor.rowcount == 1

    async def close_ticket(self, ticket_id: int, by: str, now: datetime) -> None:
        await self._db.execute(
            "UPDATE tickets SET closed_at = ?, closed_by = ? WHERE id = ? AND closed_at IS NULL",
            (utc_text(now), by, ticket_id),
        )

    async def add_note(self, ticket_id: int, note: dict) -> None:
        await self._db.execute(
            "UPDATE tickets SET notes = json_insert(notes, '$[#]', json(?)) WHERE id = ?",
            (json.dumps(note, ensure_ascii=False), ticket_id),
        )

    async def topic_of(self, conversation: Key) -> dict | None:
        row = await self._one("SELECT * FROM topics WHERE conversation = ?", (str(conversation),))
        return {**dict(row), "conversation": conversation} if row else None

    async def conversation_of_topic(self, thread_id: int) -> Key | None:
        row = await self._one("SELECT conversation FROM topics WHERE thread_id = ?", (thread_id,))
        return Key.parse(row["conversation"]) if row else None

    async def set_topic(self, conversation: Key, thread_id: int | None, name: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO topics (conversation, thread_id, name, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (conversation) DO UPDATE SET thread_id = excluded.thread_id,"
            " name = excluded.name, updated_at = excluded.updated_at",
            (str(conversation), thread_id, name, utc_text(now)),
        )

    async def note_transcript(self, conversation: Key, lines: list[tuple[str, str]], now: datetime) -> None:
        if not lines:
            return
        stamp, key = utc_text(now), str(conversation)
        await self._db.executemany(
            "INSERT INTO transcript (conversation, at, speaker, text) VALUES (?, ?, ?, ?)",
            [(key, stamp, speaker, text[:TRANSCRIPT_CHARS]) for speaker, text in lines],
        )
        await self._db.execute(
            "DELETE FROM transcript WHERE conversation = ? AND id NOT IN"
            " (SELECT id FROM transcript WHERE conversation = ? ORDER BY id DESC LIMIT ?)",
            (key, key, TRANSCRIPT_KEEP),
        )

    async def transcript(self, conversation: Key, limit: int = 10) -> list[dict]:
        rows = await self._all(
            "SELECT at, speaker, text FROM transcript WHERE conversation = ? ORDER BY id DESC LIMIT ?",
            (str(conversation), limit),
        )
        return [dict(r) for r in reversed(rows)]

    # -- personal data ------------------------------------------------------------------------

    async def delete_conversation_data(self, conversation: Key) -> None:
        key = str(conversation)
        for table, column in _PERSONAL:
            await self._db.execute(f"DELETE FROM {table} WHERE {column} = ?", (key,))
        # Messages to and from the user, and what they wrote to staff, queued or kept after sending.
        await self._db.execute(
            "DELETE FROM envelopes WHERE destination IN (?, ?)",
            (key, destination_text(Staff(conversation))),
        )
        # Handled events keep nothing but their ids; waiting ones stay (this turn is one of them).
        await self._db.execute(
            "UPDATE inbox SET conversation = '' WHERE conversation = ? AND done_at IS NOT NULL", (key,)
        )

    async def ops_figures(self, now: datetime) -> dict[str, float]:
        at = utc_text(now)
        row = await self._one(
            "SELECT"
            " (SELECT COUNT(*) FROM envelopes WHERE sent_at IS NULL),"
            " (SELECT MIN(not_before) FROM envelopes WHERE sent_at IS NULL AND not_before <= ?),"
            " (SELECT COUNT(*) FROM envelopes WHERE sent_at IS NULL AND attempts >= ?),"
            " (SELECT COUNT(*) FROM envelopes"
            "   WHERE sent_at IS NULL AND kind = 'reminder' AND not_before <= ?),"
            " (SELECT COUNT(*) FROM tickets WHERE closed_at IS NULL),"
            " (SELECT COUNT(*) FROM inbox WHERE done_at IS NULL)",
            (at, FAILING_ATTEMPTS, at),
        )
        depth, oldest, failing, reminders, tickets, pending = row
        waited = (now - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
        return dict(
            zip(OPS_FIGURES, (depth, max(waited, 0.0), failing, reminders, tickets, pending), strict=True)
        )

    async def purge(self, now: datetime, keep: timedelta, limit: int | None = None) -> dict[str, int]:
        many = -1 if limit is None else limit  # LIMIT -1: no limit
        # This batch's stale conversations, named once so every table drops the same ones.
        keys = [
            r[0]
            for r in await self._all(
                "SELECT key FROM conversations WHERE updated_at < ? ORDER BY updated_at LIMIT ?",
                (utc_text(now - keep), many),
            )
        ]
        batch = "(SELECT value FROM json_each(?))"
        counts = {}
        # Messages to and from them: their own destination and their staff topic's.
        cursor = await self._db.execute(
            f"DELETE FROM envelopes WHERE destination IN {batch}",
            (_json(keys + [destination_text(Staff(Key.parse(k))) for k in keys]),),
        )
        counts["outbox"] = cursor.rowcount
        for table, column in _PERSONAL:
            cursor = await self._db.execute(f"DELETE FROM {table} WHERE {column} IN {batch}", (_json(keys),))
            counts[table] = cursor.rowcount
        cursor = await self._db.execute(
            "DELETE FROM inbox WHERE id IN (SELECT id FROM inbox"
            " WHERE done_at IS NOT NULL AND done_at < ? ORDER BY done_at LIMIT ?)",
            (utc_text(now - EVENT_MEMORY), many),
        )
        counts["handled events"] = cursor.rowcount
        cursor = await self._db.execute(
            "DELETE FROM envelopes WHERE id IN (SELECT id FROM envelopes"
            " WHERE sent_at IS NOT NULL AND sent_at < ? ORDER BY sent_at LIMIT ?)",
            (utc_text(now - SENT_MEMORY), many),
        )
        counts["sent outbox"] = cursor.rowcount
        return counts
