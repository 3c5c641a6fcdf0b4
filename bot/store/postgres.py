"""The PostgreSQL backend of the store, for several workers on one database (issue 14).

Only the store backends import asyncpg. `QUOTEBOT_DB=postgresql://...` selects it. A pool of
connections (QUOTEBOT_DB_POOL, default 10) serves concurrent units of work; each is one READ
COMMITTED transaction, committed on a clean exit, rolled back on any exception. Documents are
jsonb and moments timestamptz; the methods return what the SQLite backend returns.

Migrations are numbered SQL files in bot/migrations_pg, the twins of bot/migrations (same
numbers). At open a worker reads the schema version with no lock at all; only when something is
to apply does it take a transaction-scoped advisory lock and apply what is missing in one
transaction (PostgreSQL DDL is transactional). Workers starting together: one migrates, the
others wait for its commit, find nothing left and run no DDL; a worker restarting under live
traffic finds nothing to apply and neither locks nor alters anything.

Several workers, one bot:
- `next_inbound(key)` claims the conversation for the rest of the transaction with
  `pg_try_advisory_xact_lock`: another worker running that conversation's turn makes it return
  None at once (that worker runs the next event after its commit, woken by NOTIFY if it had
  looked already). Ordered events (Telegram's update_id) are held for a short settle window
  after they arrived, measured by the database's clock, so an earlier update that reaches
  another worker a few milliseconds later still goes first; the engine waits that out before
  it claims (`settle_wait`), holding no connection.
- Outbox destinations are leased (`lease_destination`): one worker sends a destination's rows
  at a time, in order; a lease runs out by itself when its worker dies.
- Sends to a rate-limited destination are reserved in `send_log` under an advisory lock, so a
  limit such as the staff group's 20 a minute is counted across all workers (`reserve_sends`).
- `singleton(name)` is a transaction-scoped advisory lock for jobs that must run once across
  workers (the daily purge).
- After a commit that queued events or envelopes, NOTIFY wakes the other workers (`listen`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

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
    StoreError,
    utc_text,
)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations_pg"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# pg_advisory_xact_lock keys: fixed numbers, the same in every worker. Conversations use
# hashtextextended(key, CONVERSATION_SEED) in the two-int form's own key space.
MIGRATION_LOCK = 0x71756F7465626F74  # "quotebot"
CONVERSATION_SEED = 14
DEFAULT_POOL = 10
DEFAULT_SETTLE = 0.3  # seconds an ordered event waits after arriving, for a late earlier one
CONNECT_TIMEOUT = 10.0  # seconds; a database that is not there is reported, not waited on forever
CHANNEL = "quotebot"  # LISTEN/NOTIFY channel: "inbox <conversation>" or "outbox"
# Where personal data about a conversation lives (the conversation itself last: purge finds
# the stale ones through it).
_PERSONAL = (
    ("quotes", "conversation"),
    ("incidents", "conversation"),
    ("tickets", "conversation"),
    ("topics", "conversation"),
    ("transcript", "conversation"),
    ("conversations", "key"),
)
# jsonb cannot hold U+0000 and text columns cannot hold NUL: such a character (only ever in
# what someone typed) becomes U+FFFD here, where SQLite would keep it.
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def describe(url: str) -> str:
    """The URL without its password, for messages: postgresql://user@host:port/db."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"PostgreSQL {parts.scheme}://{user}{host}{port}{parts.path}"


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, SQL) of every PostgreSQL migration, checked to be numbered 1..n."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise StoreError(f"badly named migration {path.name}")
        found.append((int(match.group(1)), path.stem, path.read_text(encoding="utf-8")))
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise StoreError(f"migrations must be numbered 1..n without gaps: {numbers}")
    return found


def _dumps(value) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _JSON_NUL.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def _clean(text: str | None) -> str | None:
    return text.replace("\x00", "\ufffd") if text and "\x00" in text else text


def _text(moment: datetime | None) -> str | None:
    return utc_text(moment) if moment is not None else None


def _count(status: str) -> int:
    """asyncpg's command status ("DELETE 3", "INSERT 0 1") as a row count."""
    return int(status.rsplit(" ", 1)[-1])


def _record(row) -> OutboxRecord:
    return OutboxRecord(
        row["id"],
        Envelope.from_json(row["envelope"]),
        row["attempts"],
        row["last_error"],
        _text(row["sent_at"]),
        row["uncertain"],
    )


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("jsonb", "json"):
        await conn.set_type_codec(kind, encoder=_dumps, decoder=json.loads, schema="pg_catalog")


async def _no_reset(conn: asyncpg.Connection) -> None:
    """A connection goes back to the pool as it is (asyncpg still rolls back an open
    transaction): the store keeps no session state on pooled connections (no SET, no LISTEN,
    no session-level advisory locks: every lock is transaction-scoped), so the default reset
    (RESET ALL, pg_advisory_unlock_all(), UNLISTEN *, CLOSE ALL) was a round trip per unit of
    work for nothing."""


class PostgresStore:
    """Open with `await PostgresStore.open(url)` (or `bot.store.open_store`); close with `close()`."""

    path = None  # no file
    shared = True  # several workers may share this database (bot/app.py, bot/outbox.py ask)

    def __init__(self, pool: asyncpg.Pool, url: str, settle: float):
        self._pool = pool
        self.url = url
        self.settle = settle
        self.description = describe(url)
        self._listener: asyncpg.Connection | None = None
        self._counter: asyncpg.Connection | None = None
        self._counter_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, url: str, *, pool_size: int = DEFAULT_POOL, settle: float = DEFAULT_SETTLE
    ) -> PostgresStore:
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=pool_size,
                init=_init_connection,
                reset=_no_reset,
                timeout=CONNECT_TIMEOUT,
                command_timeout=60,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError, ValueError) as e:
            # The message names the server, never the password.
            raise StoreError(f"cannot open database {describe(url)}: {type(e).__name__}: {e}") from None
        store = cls(pool, url, settle)
        try:
            await store._migrate()
        except BaseException:
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        for own in (self._listener, self._counter):
            if own is not None:
                with contextlib.suppress(Exception):
                    await own.close()
        self._listener = self._counter = None
        await self._pool.close()

    async def schema_version(self) -> int:
        async with self._pool.acquire() as conn:
            return await self._version(conn)

    @staticmethod
    async def _version(conn: asyncpg.Connection) -> int:
        if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
            return 0
        return await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")

    async def _migrate(self) -> None:
        wanted = migrations()
        async with self._pool.acquire() as conn:
            version = await self._version(conn)  # no lock: the common case is "nothing to do"
            if version > len(wanted):
                raise StoreError(f"database schema {version} is newer than this program ({len(wanted)})")
            if version == len(wanted):
                return
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)"
                )
                version = await self._version(conn)  # another worker may have migrated meanwhile
                if version > len(wanted):
                    raise StoreError(f"database schema {version} is newer than this program ({len(wanted)})")
                for number, name, sql in wanted[version:]:
                    log.info("applying PostgreSQL migration %s", name)
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())",
                        number,
                        name,
                    )

    async def mark_sent(self, outbox_id: int, now: datetime) -> None:
        """A row went out: committed at once, on its own."""
        async with self.transaction() as tx:
            await tx.mark_sent(outbox_id, now)

    async def note_attempt(self, outbox_id: int) -> int | None:
        # One statement on its own (autocommit): one round trip, no transaction block, so a
        # send costs a pool connection for a moment, not four statements' worth.
        return await self._pool.fetchval(
            "UPDATE envelopes SET uncertain = uncertain + 1 WHERE id = $1 AND sent_at IS NULL"
            " RETURNING uncertain",
            outbox_id,
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        """One unit of work: committed on a clean exit, rolled back on any exception."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresTransaction(conn, self.settle, self._count)

    async def _count(self, name: str) -> int:
        """The counter's next value, committed at once on a connection of its own.

        Inside the turn's transaction the counter row stayed locked until that turn committed,
        so every quote of the day across all workers waited for the one before it, each holding
        a pooled connection meanwhile (under load: a second per quote, and the webhooks' own
        commits queued behind). The price: a turn that fails after taking a number leaves a gap;
        references stay unique and rising."""
        async with self._counter_lock:
            for attempt in (1, 2):
                try:
                    if self._counter is None or self._counter.is_closed():
                        self._counter = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT)
                    return await self._counter.fetchval(
                        "INSERT INTO counters (name, value) VALUES ($1, 1)"
                        " ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
                        name,
                    )
                except (OSError, asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError):
                    self._counter = None  # the server restarted or the connection dropped: once more
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    async def settle_wait(self, conversation: Key) -> float | None:
        """Seconds until the conversation's next waiting event has settled (0: claim it now;
        None: no event waits).

        The engine sleeps this long before it claims the conversation, so a settling event
        holds neither a pooled connection nor the conversation's lock while it waits: with the
        wait inside the claim, ten settling turns took a pool of ten, and the webhook's own
        commits (the 2xx Telegram waits for) queued behind them."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_NEXT_INBOUND, str(conversation), self.settle)
        if row is None:
            return None
        if row["ord"] is None or self.settle <= 0:
            return 0.0
        return max(row["wait"], 0.0)

    async def listen(self, callback: Callable[[str], None]) -> None:
        """Call `callback("inbox <conversation>" | "outbox")` when a worker committed new work.

        One dedicated connection; if it drops, the workers' own sweeps still find the work."""
        if self._listener is None:
            self._listener = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT)
        await self._listener.add_listener(CHANNEL, lambda _conn, _pid, _channel, payload: callback(payload))


# A conversation's next waiting event (NULLS FIRST: as SQLite sorts them) and the seconds until
# it has settled: `wait` > 0 for an ordered event that arrived less than the window ago.
_NEXT_INBOUND = (
    "SELECT id, inbound, received_at, ord,"
    " extract(epoch FROM arrived_at + make_interval(secs => $2) - clock_timestamp())::float8 AS wait"
    " FROM inbox WHERE conversation = $1 AND done_at IS NULL ORDER BY ord NULLS FIRST, id LIMIT 1"
)


class PostgresTransaction:
    """The queries the bot makes, all inside one open transaction (see bot.store.Transaction)."""

    def __init__(self, conn: asyncpg.Connection, settle: float, count: Callable[[str], Awaitable[int]]):
        self._conn = conn
        self._settle = settle
        self._count = count
        self._notified: set[str] = set()
        self._claimed: set[str] = set()  # conversations this transaction holds

    async def _notify(self, what: str) -> None:
        """Wake the other workers when this transaction commits (NOTIFY is sent at commit)."""
        if what not in self._notified:
            self._notified.add(what)
            await self._conn.execute("SELECT pg_notify($1, $2)", CHANNEL, what)

    # -- inbox --------------------------------------------------------------------------------

    async def add_inbound(self, inbound: Inbound, now: datetime) -> int | None:
        added = await self._conn.fetchval(
            "INSERT INTO inbox (event_id, conversation, ord, inbound, received_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING RETURNING id",
            inbound.event_id,
            str(inbound.conversation),
            inbound.order,
            inbound.to_json(),
            now,
        )
        if added is not None:
            # Names the conversation: each worker tries that one (the one running its turn now
            # runs it next), rather than every worker sweeping every waiting chat at each event.
            await self._notify(f"inbox {inbound.conversation}")
        return added

    async def pending_conversations(self, limit: int = 100) -> list[Key]:
        rows = await self._conn.fetch(
            "SELECT conversation FROM inbox WHERE done_at IS NULL"
            " GROUP BY conversation ORDER BY min(id) LIMIT $1",
            limit,
        )
        return [Key.parse(r["conversation"]) for r in rows]

    async def next_inbound(self, conversation: Key) -> InboxItem | None:
        """The next event, with the conversation claimed until this transaction ends; None when
        none waits or another worker holds the conversation (it runs the rest after its turn)."""
        key = str(conversation)
        again = key in self._claimed  # held already: the turn asks whether more events wait
        if not again:
            # Another worker's turn of this conversation holds it: leave the conversation to that
            # worker at once, holding nothing while it runs. It runs what waits after its turn:
            # an event committed too late for its own look wakes it with NOTIFY (`add_inbound`).
            if not await self._conn.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1, $2))", key, CONVERSATION_SEED
            ):
                return None
            self._claimed.add(key)
        row = await self._conn.fetchrow(_NEXT_INBOUND, key, self._settle)
        # An earlier update may arrive while we wait: look again after. The engine waited out
        # the window before claiming (`settle_wait`), so this waits, holding the connection,
        # only for an update that arrived since. Asked again in the same transaction, it is
        # only "is there more?": never worth a wait.
        for _ in range(3):
            if again or row is None or row["ord"] is None or row["wait"] <= 0:
                break
            await asyncio.sleep(min(row["wait"], self._settle))
            row = await self._conn.fetchrow(_NEXT_INBOUND, key, self._settle)
        if row is None:
            return None
        return InboxItem(row["id"], Inbound.from_json(row["inbound"]), utc_text(row["received_at"]))

    async def inbound_done(self, item_id: int, now: datetime, *, error: str | None = None) -> None:
        await self._conn.execute(
            "UPDATE inbox SET done_at = $1, error = $2, inbound = NULL WHERE id = $3",
            now,
            _clean(error[:500]) if error else None,
            item_id,
        )

    async def overflow(self, conversation: Key, keep: int, now: datetime) -> int:
        return _count(
            await self._conn.execute(
                "UPDATE inbox SET done_at = $1, error = 'flood', inbound = NULL WHERE id IN (SELECT id"
                " FROM inbox WHERE conversation = $2 AND done_at IS NULL AND inbound->'from_staff' IS NULL"
                " ORDER BY ord NULLS FIRST, id OFFSET $3)",
                now,
                str(conversation),
                keep,
            )
        )

    # -- conversations ------------------------------------------------------------------------

    async def hold_conversation(self, key: Key) -> None:
        """The turns' claim (`next_inbound`), waited for: a turn of this conversation running on
        any worker commits first, and none starts until this transaction ends."""
        text = str(key)
        if text not in self._claimed:
            await self._conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, $2))", text, CONVERSATION_SEED
            )
            self._claimed.add(text)

    async def load_conversation(self, key: Key) -> ConversationRow | None:
        row = await self._conn.fetchrow("SELECT * FROM conversations WHERE key = $1", str(key))
        if row is None:
            return None
        return ConversationRow(key, row["state"], utc_text(row["created_at"]), utc_text(row["updated_at"]))

    async def save_conversation(self, key: Key, state: dict, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO conversations (key, channel, state, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $4) ON CONFLICT (key)"
            " DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            str(key),
            key.channel,
            state,
            now,
        )

    # -- references, quotes, incidents ----------------------------------------------------------

    async def next_reference(self, prefix: str, local_day: str) -> str:
        name = f"{prefix}-{local_day}"
        return f"{name}-{await self._count(name):04d}"  # not rolled back with the turn (`_count`)

    async def save_quote(self, ref: str, conversation: Key, quote: dict, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO quotes (ref, conversation, created_at, quote) VALUES ($1, $2, $3, $4)",
            ref,
            str(conversation),
            now,
            quote,
        )

    async def quotes_for(self, conversation: Key, limit: int = 10) -> list[dict]:
        # Ordered as SQLite's second-precision text sorts: by the second, then by ref.
        rows = await self._conn.fetch(
            "SELECT ref, created_at, quote FROM quotes WHERE conversation = $1"
            " ORDER BY date_trunc('second', created_at) DESC, ref DESC LIMIT $2",
            str(conversation),
            limit,
        )
        return [{"ref": r["ref"], "created_at": utc_text(r["created_at"]), "quote": r["quote"]} for r in rows]

    async def save_incident(self, ref: str, conversation: Key, record: dict, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO incidents (ref, conversation, created_at, updated_at, record)"
            " VALUES ($1, $2, $3, $3, $4) ON CONFLICT (ref)"
            " DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at",
            ref,
            str(conversation),
            now,
            record,
        )

    async def incident(self, ref: str) -> tuple[Key, dict] | None:
        row = await self._conn.fetchrow("SELECT conversation, record FROM incidents WHERE ref = $1", ref)
        return (Key.parse(row["conversation"]), row["record"]) if row else None

    async def incidents_for(self, conversation: Key, limit: int = 5) -> list[dict]:
        rows = await self._conn.fetch(
            "SELECT ref, record FROM incidents WHERE conversation = $1"
            " ORDER BY date_trunc('second', created_at) DESC, ref DESC LIMIT $2",
            str(conversation),
            limit,
        )
        return [{"ref": r["ref"], **r["record"]} for r in rows]

    # -- outbox -------------------------------------------------------------------------------

    async def enqueue(self, envelope: Envelope, now: datetime) -> int:
        added = await self._conn.fetchval(
            # Not before a row of the same destination that failed and waits for its retry: a
            # new message never overtakes an older one (postpone holds the rows already there).
            "INSERT INTO envelopes"
            " (destination, route, kind, envelope, tag, not_before, created_at, question)"
            " VALUES ($1, $2, $3, $4, $5, greatest($6, (SELECT max(not_before) FROM envelopes"
            "   WHERE destination = $1 AND sent_at IS NULL AND attempts > 0)), $7, $8) RETURNING id",
            destination_text(envelope.destination),
            envelope.route,
            envelope.kind,
            envelope.to_json(),
            envelope.tag,
            envelope.not_before or now,
            now,
            envelope.question,
        )
        await self._notify("outbox")
        return added

    async def supersede_questions(self, conversation: Key, open_question: str | None, now: datetime) -> int:
        return _count(
            await self._conn.execute(
                "UPDATE envelopes SET sent_at = $1, last_error = 'superseded' WHERE destination = $2"
                " AND sent_at IS NULL AND question IS NOT NULL AND question IS DISTINCT FROM $3"
                " AND (attempts > 0 OR uncertain > 0 OR not_before > created_at OR created_at <= $4"
                "   OR envelope -> 'body' ->> 'replaces' = 'true')",
                now,
                str(conversation),
                open_question,
                now - PROMPT_LATE_AFTER,
            )
        )

    async def cancel_outbox(self, tag: str) -> int:
        return _count(
            await self._conn.execute("DELETE FROM envelopes WHERE tag = $1 AND sent_at IS NULL", tag)
        )

    async def due_outbox(
        self,
        now: datetime,
        *,
        routes: Collection[str] | None = None,
        destination: Destination | None = None,
        limit: int = 200,
    ) -> list[OutboxRecord]:
        where, params = ["sent_at IS NULL", "not_before <= $1"], [now]
        if routes is not None:
            params.append(list(routes))
            where.append(f"route = ANY(${len(params)}::text[])")
        if destination is not None:
            params.append(destination_text(destination))
            where.append(f"destination = ${len(params)}")
        params.append(limit)
        rows = await self._conn.fetch(
            f"SELECT * FROM envelopes WHERE {' AND '.join(where)} ORDER BY id LIMIT ${len(params)}", *params
        )
        return [_record(r) for r in rows]

    async def next_outbox_time(self, routes: Collection[str] | None = None) -> datetime | None:
        if routes is None:
            return await self._conn.fetchval("SELECT min(not_before) FROM envelopes WHERE sent_at IS NULL")
        return await self._conn.fetchval(
            "SELECT min(not_before) FROM envelopes WHERE sent_at IS NULL AND route = ANY($1::text[])",
            list(routes),
        )

    async def mark_sent(self, outbox_id: int, now: datetime, *, error: str | None = None) -> None:
        await self._conn.execute(
            "UPDATE envelopes SET sent_at = $1, last_error = $2 WHERE id = $3",
            now,
            _clean(error[:500]) if error else None,
            outbox_id,
        )

    async def postpone(
        self, outbox_id: int, error: str, at: datetime, *, uncertain: int | None = None
    ) -> None:
        destination = await self._conn.fetchval(
            "UPDATE envelopes SET attempts = attempts + 1, last_error = $1, not_before = $2,"
            " uncertain = coalesce($4, uncertain) WHERE id = $3 RETURNING destination",
            _clean(error[:500]),
            at,
            outbox_id,
            uncertain,
        )
        if destination is not None:
            await self._conn.execute(
                "UPDATE envelopes SET not_before = $1 WHERE destination = $2 AND sent_at IS NULL"
                " AND id > $3 AND not_before < $1",
                at,
                destination,
                outbox_id,
            )

    async def outbox_record(self, outbox_id: int) -> OutboxRecord | None:
        row = await self._conn.fetchrow("SELECT * FROM envelopes WHERE id = $1", outbox_id)
        return _record(row) if row else None

    # -- several workers: leases, shared limits, jobs that run once ------------------------------

    async def lease_destination(self, destination: Destination, owner: str, seconds: float) -> bool:
        """Hold a destination for `seconds` (or renew a hold); False while another owner's runs."""
        held = await self._conn.fetchval(
            "INSERT INTO outbox_leases (destination, owner, until)"
            " VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))"
            " ON CONFLICT (destination) DO UPDATE SET owner = excluded.owner, until = excluded.until"
            " WHERE outbox_leases.owner = excluded.owner OR outbox_leases.until < clock_timestamp()"
            " RETURNING owner",
            destination_text(destination),
            owner,
            float(seconds),
        )
        return held is not None

    async def release_destination(self, destination: Destination, owner: str) -> None:
        await self._conn.execute(
            "DELETE FROM outbox_leases WHERE destination = $1 AND owner = $2",
            destination_text(destination),
            owner,
        )

    async def reserve_sends(self, destination: Destination, wanted: int, limit: int, seconds: float) -> float:
        """Take up to `wanted` of the `limit` sends a destination has per `seconds`, counted over
        every worker (the staff group's 20 a minute). Returns how many were granted, or when
        none was, minus the seconds until one more send fits in the window."""
        key = destination_text(destination)
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))", key)
        ages = await self._conn.fetch(
            "SELECT extract(epoch FROM clock_timestamp() - at)::float8 AS age FROM send_log"
            " WHERE destination = $1 AND at > clock_timestamp() - make_interval(secs => $2) ORDER BY at",
            key,
            float(seconds),
        )
        granted = min(wanted, limit - len(ages))
        if granted <= 0:  # one more fits when this one leaves (more than `limit`: a pause, below)
            return -max(float(seconds) - ages[len(ages) - limit]["age"], 0.05)
        await self._conn.execute(
            "INSERT INTO send_log (destination) SELECT $1 FROM generate_series(1, $2)", key, granted
        )
        await self._conn.execute(
            "DELETE FROM send_log WHERE destination = $1"
            " AND at < clock_timestamp() - make_interval(secs => $2)",
            key,
            float(seconds),
        )
        return granted

    async def pause_sends(self, destination: Destination, limit: int, period: float, seconds: float) -> None:
        """No send under this window (`limit` per `period` seconds) for `seconds`, for every
        worker: the window is filled with sends dated `seconds - period` ahead, which count
        until `seconds` from now (Telegram's 429 for the whole bot; `reserve_sends` then says
        how long is left)."""
        key = destination_text(destination)
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))", key)
        await self._conn.execute(
            "INSERT INTO send_log (destination, at)"
            " SELECT $1, clock_timestamp() + make_interval(secs => $3) FROM generate_series(1, $2)",
            key,
            limit,
            max(float(seconds) - float(period), 0.0),
        )

    async def singleton(self, name: str) -> bool:
        """True in one worker only until this transaction ends: for jobs that must run once."""
        return await self._conn.fetchval(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", f"quotebot job {name}"
        )

    # -- handoff: tickets, topics, transcript --------------------------------------------------

    async def open_ticket(self, conversation: Key, now: datetime) -> tuple[int, bool]:
        """The partial unique index decides: a second worker opening one at the same moment
        waits for the first's commit, then finds its ticket (not select-then-insert)."""
        key = str(conversation)
        created = await self._conn.fetchval(
            "INSERT INTO tickets (conversation, opened_at) VALUES ($1, $2)"
            " ON CONFLICT (conversation) WHERE closed_at IS NULL DO NOTHING RETURNING id",
            key,
            now,
        )
        if created is not None:
            return created, True
        existing = await self._conn.fetchval(
            "SELECT id FROM tickets WHERE conversation = $1 AND closed_at IS NULL", key
        )
        return existing, False

    @staticmethod
    def _ticket(row) -> dict:
        ticket = dict(row)
        ticket["conversation"] = Key.parse(row["conversation"])
        for column in ("opened_at", "answered_at", "closed_at"):
            ticket[column] = _text(ticket[column])
        return ticket

    async def ticket(self, ticket_id: int) -> dict | None:
        row = await self._conn.fetchrow("SELECT * FROM tickets WHERE id = $1", ticket_id)
        return self._ticket(row) if row else None

    async def open_ticket_of(self, conversation: Key) -> dict | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM tickets WHERE conversation = $1 AND closed_at IS NULL", str(conversation)
        )
        return self._ticket(row) if row else None

    async def ticket_answered(self, ticket_id: int, now: datetime) -> bool:
        status = await self._conn.execute(
            "UPDATE tickets SET answered_at = $1 WHERE id = $2 AND answered_at IS NULL", now, ticket_id
        )
        return _count(status) == 1

    async def close_ticket(self, ticket_id: int, by: str, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE tickets SET closed_at = $1, closed_by = $2 WHERE id = $3 AND closed_at IS NULL",
            now,
            by,
            ticket_id,
        )

    async def add_note(self, ticket_id: int, note: dict) -> None:
        await self._conn.execute(
            "UPDATE tickets SET notes = notes || jsonb_build_array($1::jsonb) WHERE id = $2", note, ticket_id
        )

    async def topic_of(self, conversation: Key) -> dict | None:
        row = await self._conn.fetchrow("SELECT * FROM topics WHERE conversation = $1", str(conversation))
        if row is None:
            return None
        return {**dict(row), "conversation": conversation, "updated_at": utc_text(row["updated_at"])}

    async def conversation_of_topic(self, thread_id: int) -> Key | None:
        found = await self._conn.fetchval("SELECT conversation FROM topics WHERE thread_id = $1", thread_id)
        return Key.parse(found) if found else None

    async def set_topic(self, conversation: Key, thread_id: int | None, name: str, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO topics (conversation, thread_id, name, updated_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (conversation) DO UPDATE SET thread_id = excluded.thread_id,"
            " name = excluded.name, updated_at = excluded.updated_at",
            str(conversation),
            thread_id,
            _clean(name),
            now,
        )

    async def note_transcript(self, conversation: Key, lines: list[tuple[str, str]], now: datetime) -> None:
        if not lines:
            return
        key = str(conversation)
        await self._conn.execute(
            "INSERT INTO transcript (conversation, at, speaker, text)"
            " SELECT $1, $2, speaker, text FROM unnest($3::text[], $4::text[])"
            " WITH ORDINALITY AS line (speaker, text, n) ORDER BY n",
            key,
            now,
            [speaker for speaker, _ in lines],
            [_clean(text[:TRANSCRIPT_CHARS]) for _, text in lines],
        )
        await self._conn.execute(
            "DELETE FROM transcript WHERE conversation = $1 AND id NOT IN"
            " (SELECT id FROM transcript WHERE conversation = $1 ORDER BY id DESC LIMIT $2)",
            key,
            TRANSCRIPT_KEEP,
        )

    async def transcript(self, conversation: Key, limit: int = 10) -> list[dict]:
        rows = await self._conn.fetch(
            "SELECT at, speaker, text FROM transcript WHERE conversation = $1 ORDER BY id DESC LIMIT $2",
            str(conversation),
            limit,
        )
        return [{**dict(r), "at": utc_text(r["at"])} for r in reversed(rows)]

    # -- personal data ------------------------------------------------------------------------

    async def delete_conversation_data(self, conversation: Key) -> None:
        key = str(conversation)
        for table, column in _PERSONAL:
            await self._conn.execute(f"DELETE FROM {table} WHERE {column} = $1", key)
        # Messages to and from the user, and what they wrote to staff, queued or kept after sending.
        await self._conn.execute(
            "DELETE FROM envelopes WHERE destination = ANY($1::text[])",
            [key, destination_text(Staff(conversation))],
        )
        # Handled events keep nothing but their ids; waiting ones stay (this turn is one of them).
        await self._conn.execute(
            "UPDATE inbox SET conversation = '' WHERE conversation = $1 AND done_at IS NOT NULL", key
        )

    async def ops_figures(self, now: datetime) -> dict[str, float]:
        row = await self._conn.fetchrow(
            "SELECT"
            " (SELECT count(*) FROM envelopes WHERE sent_at IS NULL),"
            " (SELECT min(not_before) FROM envelopes WHERE sent_at IS NULL AND not_before <= $1),"
            " (SELECT count(*) FROM envelopes WHERE sent_at IS NULL AND attempts >= $2),"
            " (SELECT count(*) FROM envelopes"
            "   WHERE sent_at IS NULL AND kind = 'reminder' AND not_before <= $1),"
            " (SELECT count(*) FROM tickets WHERE closed_at IS NULL),"
            " (SELECT count(*) FROM inbox WHERE done_at IS NULL)",
            now,
            FAILING_ATTEMPTS,
        )
        depth, oldest, failing, reminders, tickets, pending = row
        waited = (now - oldest).total_seconds() if oldest else 0.0
        return dict(
            zip(OPS_FIGURES, (depth, max(waited, 0.0), failing, reminders, tickets, pending), strict=True)
        )

    async def purge(self, now: datetime, keep: timedelta, limit: int | None = None) -> dict[str, int]:
        # LIMIT NULL is no limit. This batch's stale conversations are named once (and locked:
        # a worker saving one of them waits for this batch, then writes it anew) so every table
        # drops the same ones; SKIP LOCKED leaves one being saved right now to a later batch.
        keys = [
            r["key"]
            for r in await self._conn.fetch(
                "SELECT key FROM conversations WHERE updated_at < $1 ORDER BY updated_at LIMIT $2"
                " FOR UPDATE SKIP LOCKED",
                now - keep,
                limit,
            )
        ]
        counts = {}
        # Messages to and from them: their own destination and their staff topic's.
        counts["outbox"] = _count(
            await self._conn.execute(
                "DELETE FROM envelopes WHERE destination = ANY($1::text[])",
                keys + [destination_text(Staff(Key.parse(k))) for k in keys],
            )
        )
        for table, column in _PERSONAL:
            status = await self._conn.execute(f"DELETE FROM {table} WHERE {column} = ANY($1::text[])", keys)
            counts[table] = _count(status)
        counts["handled events"] = _count(
            await self._conn.execute(
                "DELETE FROM inbox WHERE id IN (SELECT id FROM inbox"
                " WHERE done_at IS NOT NULL AND done_at < $1 ORDER BY done_at LIMIT $2)",
                now - EVENT_MEMORY,
                limit,
            )
        )
        counts["sent outbox"] = _count(
            await self._conn.execute(
                "DELETE FROM envelopes WHERE id IN (SELECT id FROM envelopes"
                " WHERE sent_at IS NOT NULL AND sent_at < $1 ORDER BY sent_at LIMIT $2)",
                now - SENT_MEMORY,
                limit,
            )
        )
        return counts
