"""The SQLite store's queries: `SqliteTransaction`, every statement the bot makes inside one open
transaction (bot.store.Transaction is the protocol). Where and when they run, and how a unit of
work is committed, is bot/store/sqlite.py's part: the same methods run on the event loop for a
turn and through aiosqlite's thread for an ordinary transaction, given `_Here` or the connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.messages import Destination, Envelope, Inbound, Key, Staff, destination_text
from bot.store import (
    EVENT_MEMORY,
    FAILING_ATTEMPTS,
    OPS_FIGURES,
    PROMPT_LATE_AFTER,
    SENT_MEMORY,
    TRANSCRIPT_CHARS,
    TRANSCRIPT_KEEP,
    ConversationRow,
    InboxItem,
    OutboxRecord,
    utc_text,
)

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


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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


class Statements(Protocol):
    """What SqliteTransaction needs of a connection: aiosqlite's (in the database thread, only
    bot/store/sqlite.py imports it) or `_Here` (on the event loop)."""

    async def execute(self, sql: str, params=...) -> Any: ...

    async def execute_fetchall(self, sql: str, params=...) -> Iterable[sqlite3.Row]: ...

    async def executemany(self, sql: str, rows) -> Any: ...


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


class SqliteTransaction:
    """The queries the bot makes, all inside one open transaction (see bot.store.Transaction)."""

    def __init__(self, db: Statements):
        self._db = db

    # One round trip to the database thread each (execute + fetch + close would be three).
    async def _one(self, sql: str, params=()) -> sqlite3.Row | None:
        rows = await self._db.execute_fetchall(sql, params)
        return rows[0] if rows else None

    async def _all(self, sql: str, params=()) -> list[sqlite3.Row]:
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
