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
        await store._configure()
        await store._migrate()
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
            raise StoreError(
                f"database schema {version} is newer than this program ({len(migrations)})"
            )
        for number, path in migrations[version:]:
            script = path.read_text(encoding="utf-8")
            # executescript commits as it goes: bump the version inside the same script.
            await self._db.executescript(
                f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )

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

    async def forget_events_before(self, moment: datetime) -> int:
        cursor = await self._db.execute(
            "DELETE FROM processed_events WHERE processed_at < ?", (utc_text(moment),)
        )
        return cursor.rowcount

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
            {"ref": r["ref"], "created_at": r["created_at"], "quote": json.loads(r["quote"])}
            for r in rows
        ]

    # -- personal data ------------------------------------------------------------------------

    async def delete_conversation_data(self, conversation: str) -> None:
        """Everything kept about one conversation, on the user's request."""
        await self._db.execute("DELETE FROM quotes WHERE conversation = ?", (conversation,))
        await self._db.execute("DELETE FROM conversations WHERE key = ?", (conversation,))

    async def delete_stale(self, older_than: timedelta, now: datetime) -> int:
        """Retention: conversations (and their quotes) untouched for longer than `older_than`."""
        cutoff = utc_text(now - older_than)
        await self._db.execute(
            "DELETE FROM quotes WHERE conversation IN"
            " (SELECT key FROM conversations WHERE updated_at < ?)",
            (cutoff,),
        )
        cursor = await self._db.execute("DELETE FROM conversations WHERE updated_at < ?", (cutoff,))
        return cursor.rowcount
