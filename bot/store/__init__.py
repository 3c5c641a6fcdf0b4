"""The store: what the engine, the outbox and the channels keep, behind one protocol.

`open_store(url_or_path)` picks the backend: a file path (or "sqlite:///path", ":memory:") is
SQLite (bot/store/sqlite.py); "postgresql://..." is PostgreSQL (bot/store/postgres.py, when
present). Every backend passes the same contract suite (tests/bot/store_contract.py).

All work happens in `async with store.transaction() as tx:` — committed on a clean exit, rolled
back on any exception; a caller that has left the block knows its writes are durable.
Conversations are `Key`s; times are aware datetimes, kept as UTC.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from bot.messages import Destination, Envelope, Inbound, Key

TRANSCRIPT_KEEP = 20  # messages per conversation kept for a ticket's header
TRANSCRIPT_CHARS = 500
EVENT_MEMORY = timedelta(days=7)  # handled event ids are remembered this long (Telegram: 24 h)
SENT_MEMORY = timedelta(days=30)  # sent outbox rows are kept this long, for the record
# A prompt not sent this long after its turn is late (held back by a rate limit, say): a newer
# turn that leaves its question drops it (Transaction.supersede_questions).
PROMPT_LATE_AFTER = timedelta(seconds=5)


# ops_figures(now): unsent envelopes; seconds the oldest due one has waited (0: none due);
# unsent ones that failed FAILING_ATTEMPTS times or more; reminders due and unsent; open tickets;
# inbox events not yet handled.
OPS_FIGURES = (
    "outbox_depth",
    "outbox_oldest_due_seconds",
    "outbox_failing",
    "reminders_due",
    "tickets_open",
    "inbox_pending",
)
FAILING_ATTEMPTS = 8  # about eight minutes of backoff (2 + 4 + ... + 256 s), or eight "retry after"s


class StoreError(RuntimeError):
    """The database cannot be opened or is newer than this program."""


class CommitFailed(StoreError):
    """A group of units of work could not be committed: none of them was written."""


def utc_text(moment: datetime) -> str:
    """ "2026-11-22T01:00:00+00:00": text that sorts as the moments compare."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ConversationRow:
    key: Key
    state: dict
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class InboxItem:
    """An accepted event waiting for its turn."""

    id: int
    inbound: Inbound
    received_at: str


@dataclass(frozen=True)
class OutboxRecord:
    """One outbox row as stored."""

    id: int
    envelope: Envelope
    attempts: int = 0
    last_error: str | None = None
    sent_at: str | None = None
    uncertain: int = 0  # sends that may have reached the platform unheard (Store.note_attempt)


class Transaction(Protocol):
    """The queries the bot makes, all inside one open transaction."""

    # -- inbox: every event is here before the platform is told we have it --------------------
    async def add_inbound(self, inbound: Inbound, now: datetime) -> int | None:
        """Queue an event for its turn; None (nothing queued) when its event_id was seen before."""

    async def pending_conversations(self, limit: int = 100) -> list[Key]:
        """Conversations with events waiting, the longest-waiting first."""

    async def next_inbound(self, conversation: Key) -> InboxItem | None:
        """The conversation's next event: by platform order when it has one, else arrival."""

    async def inbound_done(self, item_id: int, now: datetime, *, error: str | None = None) -> None:
        """The event's turn is over (or failed for good with `error`); its content is dropped,
        its event id remembered for EVENT_MEMORY to recognise redeliveries."""

    async def overflow(self, conversation: Key, keep: int, now: datetime) -> int:
        """The conversation's waiting events from the user after its first `keep` (in
        next_inbound's order) marked done without a turn (error "flood"), like inbound_done; how
        many there were. What staff wrote in the conversation's thread is never set aside."""

    # -- conversations ---------------------------------------------------------------------------
    async def hold_conversation(self, key: Key) -> None:
        """Wait until no turn of the conversation is running, and keep others off it until this
        transaction ends: for a change to its state outside a turn (a turn saves the whole state,
        so a change made meanwhile would be lost). A no-op where one transaction runs at a time."""

    async def load_conversation(self, key: Key) -> ConversationRow | None: ...

    async def save_conversation(self, key: Key, state: dict, now: datetime) -> None: ...

    # -- references, quotes, incidents -------------------------------------------------------------
    async def next_reference(self, prefix: str, local_day: str) -> str:
        """ "Q" and "20261122" give Q-20261122-0001, then -0002, ... (per prefix, per day)."""

    async def save_quote(self, ref: str, conversation: Key, quote: dict, now: datetime) -> None: ...

    async def quotes_for(self, conversation: Key, limit: int = 10) -> list[dict]:
        """Newest first: {"ref", "created_at", "quote"}."""

    async def save_incident(self, ref: str, conversation: Key, record: dict, now: datetime) -> None:
        """Insert or replace the record of an incident."""

    async def incident(self, ref: str) -> tuple[Key, dict] | None: ...

    async def incidents_for(self, conversation: Key, limit: int = 5) -> list[dict]:
        """Newest first, each record with its "ref"."""

    # -- outbox: every message the bot sends is a row here first ---------------------------------
    async def enqueue(self, envelope: Envelope, now: datetime) -> int:
        """Store a message to send (not before envelope.not_before); its row id."""

    async def cancel_outbox(self, tag: str) -> int:
        """Drop pending messages with this tag (a reminder for an item marked done)."""

    async def due_outbox(
        self,
        now: datetime,
        *,
        routes: Collection[str] | None = None,
        destination: Destination | None = None,
        limit: int = 200,
    ) -> list[OutboxRecord]:
        """Unsent rows due by `now`, oldest first; only these routes ("telegram", "staff"...)
        or this destination when given."""

    async def next_outbox_time(self, routes: Collection[str] | None = None) -> datetime | None:
        """When the earliest unsent row of these routes falls due."""

    async def mark_sent(self, outbox_id: int, now: datetime, *, error: str | None = None) -> None:
        """Done with a row: sent, or (with `error`) refused for good and kept for the record."""

    async def postpone(
        self, outbox_id: int, error: str, at: datetime, *, uncertain: int | None = None
    ) -> None:
        """A send failed: try the row again at `at` (attempts + 1). Later unsent rows of the same
        destination due before `at` wait until then too, so they never overtake it. `uncertain`
        sets the row's count of sends of unknown outcome (a noted attempt that failed for sure
        is taken back)."""

    async def supersede_questions(self, conversation: Key, open_question: str | None, now: datetime) -> int:
        """Unsent direct replies to `conversation` that ask a question other than `open_question`
        (None: none is open) and are late are done, kept with the error "superseded"; how many.
        Late: it failed at least once, had a send of unknown outcome (a timeout, a kill during
        the call), waited behind an older row that did, or is PROMPT_LATE_AFTER old (more was
        owed than Telegram's 30 a second lets go, and it waited its turn). An edit
        (Reply.replaces: a keyboard's state, perhaps on its way right now) of another question
        is always superseded: only the newest state matters, and one being retried must not hold
        up the answer behind it. A prompt simply queued by the turn before (a user typing ahead)
        still goes: it arrives in order, right before the next answer, and may carry what that
        turn understood. Messages that ask nothing (quotes, incident numbers, checklists,
        relays) are never touched."""

    async def outbox_record(self, outbox_id: int) -> OutboxRecord | None: ...

    # -- handoff: tickets, the staff desk's threads, transcript ----------------------------------
    async def open_ticket(self, conversation: Key, now: datetime) -> tuple[int, bool]:
        """The conversation's open ticket, or a new one: (id, created)."""

    async def ticket(self, ticket_id: int) -> dict | None: ...

    async def open_ticket_of(self, conversation: Key) -> dict | None: ...

    async def ticket_answered(self, ticket_id: int, now: datetime) -> bool:
        """Mark the first staff answer; True only the first time."""

    async def close_ticket(self, ticket_id: int, by: str, now: datetime) -> None: ...

    async def add_note(self, ticket_id: int, note: dict) -> None: ...

    async def topic_of(self, conversation: Key) -> dict | None:
        """The staff desk's thread for a conversation: {"thread_id", "name", ...} or None."""

    async def conversation_of_topic(self, thread_id: int) -> Key | None: ...

    async def set_topic(self, conversation: Key, thread_id: int | None, name: str, now: datetime) -> None: ...

    async def note_transcript(self, conversation: Key, lines: list[tuple[str, str]], now: datetime) -> None:
        """Add (speaker, text) lines, shortened, keeping the conversation's last TRANSCRIPT_KEEP."""

    async def transcript(self, conversation: Key, limit: int = 10) -> list[dict]:
        """The last lines, oldest first: {"at", "speaker", "text"}."""

    # -- personal data ---------------------------------------------------------------------------
    async def delete_conversation_data(self, conversation: Key) -> None:
        """Everything kept about one conversation, on the user's request."""

    async def ops_figures(self, now: datetime) -> dict[str, float]:
        """What /metrics and /healthz show from the store (see OPS_FIGURES), as of `now`."""
        ...

    async def purge(self, now: datetime, keep: timedelta, limit: int | None = None) -> dict[str, int]:
        """Retention: conversations untouched for `keep` with everything about them, handled
        events older than EVENT_MEMORY, sent outbox rows older than SENT_MEMORY; counts by table.
        With `limit`: at most that many conversations, handled events and sent rows (the oldest),
        so one call is a small batch (purge_in_batches repeats it until nothing is left)."""


PURGE_BATCH = 1_000  # rows of each kind that one retention transaction deletes at most


async def purge_in_batches(
    store: Store, now: datetime, keep: timedelta, batch: int = PURGE_BATCH, *, pace: float = 0.0
) -> dict[str, int]:
    """Retention (Transaction.purge) in transactions of at most `batch` conversations, handled
    events and sent rows each, until a batch finds less than that of every kind; the counts
    added up. Why: a first purge of a big database can delete millions of event ids, and in one
    transaction it held the SQLite store's one lock (every turn) for over a minute; between
    batches the turns waiting for the store go first (its lock is first come, first served).
    `pace`: after each batch, wait that many times as long as the batch took (1.0: the purge
    has the store half the time at most, so turns meanwhile rarely meet a batch)."""
    total: dict[str, int] = {}
    while True:
        started = time.perf_counter()
        async with store.transaction() as tx:
            counts = await tx.purge(now, keep, limit=batch)
        if pace > 0:
            await asyncio.sleep((time.perf_counter() - started) * pace)
        for table, n in counts.items():
            total[table] = total.get(table, 0) + n
        # A count of `batch` may mean more is left; other tables' counts (a conversation's
        # quotes, its transcript) can reach it too, which costs one more, empty, batch at most.
        if all(n < batch for n in counts.values()):
            return total


class Store(Protocol):
    description: str  # for logs and start-up messages; never a password

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def schema_version(self) -> int: ...

    async def mark_sent(self, outbox_id: int, now: datetime) -> None:
        """A row went out: committed at once, on its own (a sender marks each send before its
        destination's next one; this is Transaction.mark_sent without a transaction around it)."""

    async def note_attempt(self, outbox_id: int) -> int | None:
        """A send of this row that could show it twice if repeated is about to start: its
        `uncertain` count + 1, committed at once and cheaply (it survives this process being
        killed, not necessarily a power cut: the row's next send is then not logged as a
        possible duplicate). Returns the new count, or None when the row is done already (a
        newer turn superseded it since it was read, or another worker sent it)."""

    async def close(self) -> None: ...


async def open_store(url_or_path: str | Path, **options: Any) -> Store:
    """Open (and migrate) the store a setting names: a SQLite path or a postgresql:// URL."""
    target = str(url_or_path)
    if target.startswith(("postgresql://", "postgres://")):
        try:
            from bot.store.postgres import PostgresStore
        except ImportError as e:
            raise StoreError(f"PostgreSQL is not available in this installation ({e.name})") from None
        return await PostgresStore.open(target, **options)
    from bot.store.sqlite import SqliteStore

    # "sqlite:///data/q.db" is relative, "sqlite:////srv/q.db" absolute (as SQLAlchemy reads them).
    return await SqliteStore.open(target.removeprefix("sqlite:///"), **options)
