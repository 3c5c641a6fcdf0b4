"""The one SQLite file: conversations, processed events, quotes (and what later migrations add).

Only this module imports aiosqlite. One connection in WAL mode; every unit of work is a
`BEGIN IMMEDIATE` transaction under one asyncio lock, so a caller that has left
`transaction()` knows its writes are committed (synchronous=FULL) before it replies.
Schema changes are numbered SQL files in bot/migrations, applied in order at open.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
TRANSCRIPT_KEEP = 20  # messages per conversation kept for a ticket's header
TRANSCRIPT_CHARS = 500
EVENT_MEMORY = timedelta(days=7)  # Telegram redelivers for at most 24 hours
SENT_MEMORY = timedelta(days=30)
# Where personal data about a conversation lives: deleted on request and after retention.
# The conversation itself goes last, since purge() finds the stale ones through it.
_PERSONAL = (
    ("quotes", "conversation"),
    ("incidents", "conversation"),
    ("tickets", "conversation"),
    ("topics", "conversation"),
    ("transcript", "conversation"),
    ("outbox", "destination"),
    ("conversations", "key"),
)
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StoreError(RuntimeError):
    """The database cannot be opened or is newer than this program."""


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


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


def _destinations(prefixes: tuple[str, ...]) -> tuple[str, tuple]:
    """SQL for "destination is one of these": "telegram:" (ending in ':') is a prefix, "staff"
    or "console:local" an exact name. No LIKE: '_' in a user name would be a wildcard."""
    clauses, params = [], []
    for prefix in prefixes:
        if prefix.endswith(":"):
            clauses.append("substr(destination, 1, ?) = ?")
            params += [len(prefix), prefix]
        else:
            clauses.append("destination = ?")
            params.append(prefix)
    return " OR ".join(clauses), tuple(params)


@dataclass(frozen=True)
class ConversationRow:
    key: str
    channel: str
    state: dict
    created_at: str
    updated_at: str


class Store:
    """Open with `await Store.open(path)`; close with `await store.close()`."""

    def __init__(self, db: aiosqlite.Connection, path: str):
        self._db = db
        self.path = path
        self._lock = asyncio.Lock()  # one unit of work at a time on the one connection

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
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
        await self._db.close()

    async def _configure(self) -> None:
        await self._db.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit survives power loss too, not only a crash of this process.
        await self._db.execute("PRAGMA synchronous = FULL")
        await self._db.execute("PRAGMA foreign_keys = ON")
        await self._db.execute("PRAGMA busy_timeout = 5000")

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
        async with self._db.execute("PRAGMA user_version") as cursor:
            return (await cursor.fetchone())[0]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One unit of work: committed on a clean exit, rolled back on any exception."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._db)
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")


class Transaction:
    """The queries the bot makes, all inside one open transaction."""

    def __init__(self, db: aiosqlite.Connection):
        self._db = db

    async def _one(self, sql: str, params=()) -> aiosqlite.Row | None:
        async with self._db.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def _all(self, sql: str, params=()) -> list[aiosqlite.Row]:
        async with self._db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    # -- processed events ---------------------------------------------------------------------

    async def claim_event(self, event_id: str, now: datetime) -> bool:
        """True the first time an event id is seen; False for a redelivery."""
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO processed_events (event_id, processed_at) VALUES (?, ?)",
            (event_id, utc_text(now)),
        )
        return cursor.rowcount == 1

    # -- conversations ------------------------------------------------------------------------

    async def load_conversation(self, key: str) -> ConversationRow | None:
        row = await self._one("SELECT * FROM conversations WHERE key = ?", (key,))
        if row is None:
            return None
        return ConversationRow(
            row["key"],
            row["channel"],
            json.loads(row["state"]),
            row["created_at"],
            row["updated_at"],
        )

    async def save_conversation(self, key: str, channel: str, state: dict, now: datetime) -> None:
        stamp = utc_text(now)
        await self._db.execute(
            "INSERT INTO conversations (key, channel, state, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key)"
            " DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            (
                key,
                channel,
                json.dumps(state, ensure_ascii=False, separators=(",", ":")),
                stamp,
                stamp,
            ),
        )

    # -- references and quotes ----------------------------------------------------------------

    async def next_reference(self, prefix: str, local_day: str) -> str:
        """ "Q" and "20261122" give Q-20261122-0001, then -0002, ... (per prefix, per day)."""
        name = f"{prefix}-{local_day}"
        row = await self._one(
            "INSERT INTO counters (name, value) VALUES (?, 1)"
            " ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            (name,),
        )
        return f"{name}-{row[0]:04d}"

    async def save_quote(self, ref: str, conversation: str, quote: dict, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO quotes (ref, conversation, created_at, quote) VALUES (?, ?, ?, ?)",
            (ref, conversation, utc_text(now), json.dumps(quote, ensure_ascii=False)),
        )

    async def quotes_for(self, conversation: str, limit: int = 10) -> list[dict]:
        """The conversation's latest quotes, newest first."""
        rows = await self._all(
            "SELECT ref, created_at, quote FROM quotes WHERE conversation = ?"
            " ORDER BY created_at DESC, ref DESC LIMIT ?",
            (conversation, limit),
        )
        return [
            {"ref": r["ref"], "created_at": r["created_at"], "quote": json.loads(r["quote"])} for r in rows
        ]

    # -- incidents ----------------------------------------------------------------------------

    async def save_incident(self, ref: str, conversation: str, record: dict, now: datetime) -> None:
        stamp = utc_text(now)
        await self._db.execute(
            "INSERT INTO incidents (ref, conversation, created_at, updated_at, record)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (ref)"
            " DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at",
            (ref, conversation, stamp, stamp, json.dumps(record, ensure_ascii=False)),
        )

    async def incident(self, ref: str) -> tuple[str, dict] | None:
        """(conversation, record) of an incident, or None."""
        row = await self._one("SELECT conversation, record FROM incidents WHERE ref = ?", (ref,))
        return (row["conversation"], json.loads(row["record"])) if row else None

    async def incidents_for(self, conversation: str, limit: int = 5) -> list[dict]:
        """The conversation's latest incidents, newest first, each with its ref."""
        rows = await self._all(
            "SELECT ref, record FROM incidents WHERE conversation = ?"
            " ORDER BY created_at DESC, ref DESC LIMIT ?",
            (conversation, limit),
        )
        return [{"ref": r["ref"], **json.loads(r["record"])} for r in rows]

    # -- outbox -------------------------------------------------------------------------------

    async def enqueue(
        self,
        destination: str,
        payload: dict,
        now: datetime,
        *,
        not_before: datetime | None = None,
        tag: str | None = None,
    ) -> int:
        cursor = await self._db.execute(
            "INSERT INTO outbox (destination, payload, tag, not_before, created_at) VALUES (?, ?, ?, ?, ?)",
            (
                destination,
                json.dumps(payload, ensure_ascii=False),
                tag,
                utc_text(not_before or now),
                utc_text(now),
            ),
        )
        return cursor.lastrowid

    async def cancel_outbox(self, tag: str) -> int:
        """Drop pending messages with this tag (a reminder for an item marked done)."""
        cursor = await self._db.execute("DELETE FROM outbox WHERE tag = ? AND sent_at IS NULL", (tag,))
        return cursor.rowcount

    async def due_outbox(self, now: datetime, prefixes: tuple[str, ...], limit: int = 50) -> list[dict]:
        """Unsent messages due by `now` for `prefixes` (see `_destinations`)."""
        where, params = _destinations(prefixes)
        rows = await self._all(
            f"SELECT id, destination, payload, tag, attempts FROM outbox"
            f" WHERE sent_at IS NULL AND not_before <= ? AND ({where})"
            " ORDER BY not_before, id LIMIT ?",
            (utc_text(now), *params, limit),
        )
        return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows]

    async def next_outbox_time(self, prefixes: tuple[str, ...]) -> str | None:
        where, params = _destinations(prefixes)
        row = await self._one(
            f"SELECT MIN(not_before) FROM outbox WHERE sent_at IS NULL AND ({where})", params
        )
        return row[0] if row else None

    async def mark_sent(self, outbox_id: int, now: datetime, *, error: str | None = None) -> None:
        """Done with a row: sent, or (with `error`) refused for good and kept for the record."""
        await self._db.execute(
            "UPDATE outbox SET sent_at = ?, last_error = ? WHERE id = ?",
            (utc_text(now), error, outbox_id),
        )

    async def retry_later(self, outbox_id: int, error: str, at: datetime) -> None:
        await self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, not_before = ? WHERE id = ?",
            (error[:500], utc_text(at), outbox_id),
        )

    # -- handoff: tickets, topics, transcript --------------------------------------------------

    async def open_ticket(self, conversation: str, now: datetime) -> tuple[int, bool]:
        """The conversation's open ticket, or a new one: (id, created)."""
        row = await self._one(
            "SELECT id FROM tickets WHERE conversation = ? AND closed_at IS NULL", (conversation,)
        )
        if row:
            return row["id"], False
        cursor = await self._db.execute(
            "INSERT INTO tickets (conversation, opened_at) VALUES (?, ?)",
            (conversation, utc_text(now)),
        )
        return cursor.lastrowid, True

    async def ticket(self, ticket_id: int) -> dict | None:
        row = await self._one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        return {**dict(row), "notes": json.loads(row["notes"])} if row else None

    async def open_ticket_of(self, conversation: str) -> dict | None:
        row = await self._one(
            "SELECT id FROM tickets WHERE conversation = ? AND closed_at IS NULL", (conversation,)
        )
        return await self.ticket(row["id"]) if row else None

    async def ticket_answered(self, ticket_id: int, now: datetime) -> bool:
        """Mark the first staff answer; True only the first time."""
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

    async def topic_of(self, conversation: str) -> dict | None:
        row = await self._one("SELECT * FROM topics WHERE conversation = ?", (conversation,))
        return dict(row) if row else None

    async def conversation_of_topic(self, thread_id: int) -> str | None:
        row = await self._one("SELECT conversation FROM topics WHERE thread_id = ?", (thread_id,))
        return row["conversation"] if row else None

    async def set_topic(self, conversation: str, thread_id: int | None, name: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO topics (conversation, thread_id, name, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (conversation) DO UPDATE SET thread_id = excluded.thread_id,"
            " name = excluded.name, updated_at = excluded.updated_at",
            (conversation, thread_id, name, utc_text(now)),
        )

    async def note_transcript(self, conversation: str, lines: list[tuple[str, str]], now: datetime) -> None:
        """Add (speaker, text) lines, shortened, and keep the last TRANSCRIPT_KEEP of the conversation."""
        if not lines:
            return
        stamp = utc_text(now)
        await self._db.executemany(
            "INSERT INTO transcript (conversation, at, speaker, text) VALUES (?, ?, ?, ?)",
            [(conversation, stamp, speaker, text[:TRANSCRIPT_CHARS]) for speaker, text in lines],
        )
        await self._db.execute(
            "DELETE FROM transcript WHERE conversation = ? AND id NOT IN"
            " (SELECT id FROM transcript WHERE conversation = ? ORDER BY id DESC LIMIT ?)",
            (conversation, conversation, TRANSCRIPT_KEEP),
        )

    async def transcript(self, conversation: str, limit: int = 10) -> list[dict]:
        """The last messages, oldest first."""
        rows = await self._all(
            "SELECT at, speaker, text FROM transcript WHERE conversation = ? ORDER BY id DESC LIMIT ?",
            (conversation, limit),
        )
        return [dict(r) for r in reversed(rows)]

    # -- personal data ------------------------------------------------------------------------

    async def delete_conversation_data(self, conversation: str) -> None:
        """Everything kept about one conversation, on the user's request."""
        for table, column in _PERSONAL:
            await self._db.execute(f"DELETE FROM {table} WHERE {column} = ?", (conversation,))
        # What the user wrote to staff, queued or kept after sending.
        await self._db.execute(
            "DELETE FROM outbox WHERE destination = 'staff' AND json_extract(payload, '$.topic_of') = ?",
            (conversation,),
        )

    async def purge(self, now: datetime, keep: timedelta) -> dict[str, int]:
        """Retention: forget conversations untouched for `keep` (with everything about them),
        event ids older than a week, and sent outbox rows older than 30 days."""
        cutoff = utc_text(now - keep)
        stale = "(SELECT key FROM conversations WHERE updated_at < ?)"
        counts = {}
        for table, column in _PERSONAL:
            cursor = await self._db.execute(f"DELETE FROM {table} WHERE {column} IN {stale}", (cutoff,))
            counts[table] = cursor.rowcount
        cursor = await self._db.execute(
            "DELETE FROM processed_events WHERE processed_at < ?", (utc_text(now - EVENT_MEMORY),)
        )
        counts["processed_events"] = cursor.rowcount
        cursor = await self._db.execute(
            "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?", (utc_text(now - SENT_MEMORY),)
        )
        counts["sent outbox"] = cursor.rowcount
        return counts
