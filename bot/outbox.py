"""Send what is in the outbox, in order per destination, each message once.

Every message the bot sends is an outbox row first (written in the transaction that decided to
send it). Each channel registers a sender for its route ("telegram", "console", "line"; "staff"
for the staff desk). `Outbox.flush(destinations)` sends the due rows of those destinations now
(the engine calls it right after a turn's commit); `Outbox.run()` is the worker that sends
whatever is left: rows that fall due later (reminders), and rows a crash, a 429 or a network
error left behind.

A destination's rows go out in row order, one destination at a time under its own lock, so a
row is never sent twice by two senders at once, and each row is marked sent (committed) before
the next row of that destination is sent.

Telegram has no idempotency key. Before a send that would show a message twice if repeated (a
new message, not an edit or a tap's answer) the sender calls `row.attempt()`, which writes the
attempt down (`Store.note_attempt`). When the outcome stays unknown (a timeout, or the process
was killed before the row was marked sent), the row is sent again, once per send of unknown
outcome, and that resend is logged as one WARNING with the row's id and destination: the only
way a message can arrive twice. A send that failed for sure (a 429, a 5xx, refused) takes its
attempt back. After MAX_UNCERTAIN sends of unknown outcome a row is not sent again (logged as an
error): Telegram that keeps swallowing answers must not make the bot repeat itself forever.

A sender raises `RetryLater(seconds)` (the platform said how long to wait: a 429),
`RetryLater()` (a transient failure: retried on a short, growing backoff), `OutcomeUnknown()`
(the same, but the platform may have done it) or `GiveUp(reason)` (bot blocked, chat gone: the
row is kept with its reason, the next one is tried); the row and the ones behind it wait.
Limits (bot/limits.py) are checked before rows are handed over, on the direct
path and in the worker alike: one per destination (a staff group's 20 a minute, a private
chat's bucket) holds back only that destination's rows; one a route shares with others (the
bot's 30 a second on Telegram) holds back whoever finds it full. Neither ever sleeps inside a
send: a destination that must wait returns, and the worker tries it again when it may go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot import metrics
from bot.limits import BotLimit, Limit, SlidingWindow, fitting
from bot.messages import Body, Destination, Envelope, Key, Staff, destination_text, route_of
from bot.store import OutboxRecord, Store, Transaction

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
# A transient failure (a timeout, a 5xx, the network) is retried after FIRST_RETRY seconds, then
# twice as long each time, up to MAX_RETRY: one lost call costs a user about a second, not five,
# and a platform that stays down is not hammered.
FIRST_RETRY, MAX_RETRY = 0.5, 300.0
MAX_UNCERTAIN = 3  # sends of unknown outcome after which a row is not sent again
# A worker's hold on a destination while it sends: renewed every fifth of it for as long as it
# is held (a slow send, a wait for a rate limit), and at each row sent; short, so that a killed
# worker's chats soon move on. A worker that could not renew in time (a starved event loop)
# sends nothing more under it: another worker may have taken over.
LEASE_SECONDS = 15.0
IDLE_WAKE = 30.0  # seconds: look again even if nobody rang
LEASE_HELD_ELSEWHERE = 1.0  # seconds before a destination another worker holds is looked at again
LEFTOVER_GRACE = 1.0  # seconds a due row is left to the worker that wrote it (several workers)
# At shutdown, sends already on their way to a platform get this long to be answered (a reply
# counts as sent only once the platform said so); nothing new starts meanwhile.
STOP_GRACE = 20.0
PRUNE_LIMITS = 4096  # per-destination limits kept before the idle ones are forgotten


class RetryLater(Exception):
    """The platform asked us to wait `seconds` (Telegram 429), or (None) a transient error
    occurred: then the outbox's backoff decides (FIRST_RETRY, doubling with the row's attempts)."""

    def __init__(self, seconds: float | None = None, reason: str = "", *, flood: bool = False):
        super().__init__(
            reason or (f"retry after {seconds}s" if seconds is not None else "transient failure")
        )
        self.seconds = seconds
        self.flood = flood  # the platform's flood control (a 429), not a network error


class Superseded(Exception):
    """Raised by `row.attempt()`: the row was done since it was read (a newer turn of its
    conversation superseded the question it asks, or another worker sent it). Not sent."""


class OutcomeUnknown(RetryLater):
    """No answer came (a timeout, a connection lost mid-call): the platform may have done it.
    The row is sent again after the backoff; an attempt it noted (`row.attempt()`) stays counted."""


def backoff(attempts: int) -> float:
    """Seconds before the next try of a row that failed transiently `attempts` times before."""
    return min(FIRST_RETRY * 2 ** min(attempts, 20), MAX_RETRY)


class GiveUp(Exception):
    """The platform will never accept this message (bot blocked, chat gone)."""


class OutboxRow:
    """A row handed to a sender: its envelope, and `await row.sent()` once the platform took it."""

    def __init__(
        self,
        record: OutboxRecord,
        mark: Callable[[OutboxRow], Any],
        note: Callable[[OutboxRow], Any] | None = None,
    ):
        self.record = record
        self.done = False
        self.noted = False  # this delivery wrote an attempt down (row.attempt())
        self._mark = mark
        self._note = note

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def envelope(self) -> Envelope:
        return self.record.envelope

    @property
    def destination(self) -> Destination:
        return self.record.envelope.destination

    @property
    def body(self) -> Body:
        return self.record.envelope.body

    @property
    def kind(self) -> str:
        return self.record.envelope.kind

    @property
    def reply_ctx(self) -> dict | None:
        return self.record.envelope.reply_ctx

    @property
    def attempts(self) -> int:
        return self.record.attempts

    @property
    def uncertain(self) -> int:
        """Earlier sends of this row that may have reached the platform unheard (a timeout, a
        crash during the call): a sender waits longer for the answer to a send after one."""
        return self.record.uncertain

    async def attempt(self) -> None:
        """Call right before a send that would show the message twice if it had gone already (a
        new message; not an edit, not a tap's answer): written down first, so that after a
        timeout or a crash the next send knows it may repeat it, and says so in the log."""
        if not self.noted and self._note is not None:
            if await self._note(self) is None:
                self.done = True
                raise Superseded(f"outbox {self.id} is done already")
            self.noted = True

    async def sent(self) -> None:
        """Commit that this row went out (before the next row of its destination is sent)."""
        if not self.done:
            await self._mark(self)
            self.done = True

    def __repr__(self) -> str:
        return f"<OutboxRow {self.id} {destination_text(self.destination)} {self.kind}>"


class Sender(Protocol):
    async def deliver(self, rows: Sequence[OutboxRow]) -> Iterable[OutboxRow] | None:
        """Send rows of ONE destination, in order, calling `row.sent()` after each (or returning
        the rows sent); raise RetryLater / GiveUp for the first row that did not go."""

    # Optional: `def costs(self, rows) -> list[int]`, how many messages each of these rows (of
    # one destination, in order) will send, 1 each if absent: what the limits count (bot/limits.py).


# Per destination: (the read count when the rows were read, the due rows then).
Snapshot = dict[Destination, tuple[int, list[OutboxRecord]]]


class Outbox:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        *,
        limits: Mapping[str, Callable[[], Limit]] | None = None,
    ):
        self.store, self.clock = store, clock
        self.senders: dict[str, Sender] = {}
        self.wake = asyncio.Event()  # set after a commit that queued rows, or a send that ended
        self._limits = dict(limits or {})  # route -> a limit per destination of that route
        self._windows: dict[str, Limit] = {}
        self._prune_at = PRUNE_LIMITS
        self._overall: dict[str, BotLimit] = {}  # route -> the limit it shares with other routes
        self._locks: dict[str, asyncio.Lock] = {}
        self._busy: dict[str, asyncio.Task] = {}
        # A store several workers share (PostgreSQL) has leases and a shared send log.
        self.shared = bool(getattr(store, "shared", False))
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._held: dict[str, float] = {}  # destination -> until when its lease surely holds (monotonic)
        self.stopping = False  # set at shutdown: finish the call in flight, start no other
        self._delivering: set[asyncio.Task] = set()  # tasks inside a sender's deliver() now
        # Per destination, how many times its rows were read for sending (under its lock): a
        # caller that read the due rows inside its own transaction may send them as read if
        # nothing was sent to that destination since (see `snapshot`).
        self._reads: dict[str, int] = {}
        self._warned: set[tuple[int, int]] = set()  # (row, its uncertain count) logged as a resend

    def register(
        self,
        route: str,
        sender: Sender,
        limit: Callable[[], Limit] | None = None,
        *,
        overall: BotLimit | None = None,
    ) -> None:
        """The sender for a route: a channel's name, or "staff" for the staff desk. `limit` makes
        each destination's own limit; `overall` is one limit shared by every route given it."""
        self.senders[route] = sender
        if limit is not None:
            self._limits[route] = limit
        if overall is not None:
            self._overall[route] = overall

    @property
    def routes(self) -> Collection[str]:
        return tuple(self.senders)

    def _window(self, destination: Destination, route: str) -> Limit | None:
        """The destination's own limit (every topic of a staff group shares the group's)."""
        factory = self._limits.get(route)
        if factory is None:
            return None
        key = destination_text(_limit_key(destination))
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self._prune_at:  # a limit that is full again is as good as new
                now = self.clock()
                self._windows = {k: w for k, w in self._windows.items() if not w.idle(now)}
                self._prune_at = max(PRUNE_LIMITS, 2 * len(self._windows))
            window = self._windows[key] = factory()
        return window

    def _lock(self, destination: str) -> asyncio.Lock:
        return self._locks.setdefault(destination, asyncio.Lock())

    # -- sending ------------------------------------------------------------------------------

    def handles(self, destination: Destination) -> bool:
        return route_of(destination) in self.senders

    async def snapshot(self, tx: Transaction, destinations: Iterable[Destination], now: datetime) -> Snapshot:
        """Inside the transaction that wrote them: the due rows of these destinations, to hand to
        `flush` after the commit without reading them again (when nothing was sent meanwhile)."""
        snapshot: Snapshot = {}
        for destination in dict.fromkeys(destinations):
            if self.handles(destination):
                text = destination_text(destination)
                snapshot[destination] = (
                    self._reads.get(text, 0),
                    await tx.due_outbox(now, destination=destination),
                )
        return snapshot

    async def flush(
        self, destinations: Iterable[Destination], snapshot: Snapshot | None = None
    ) -> float | None:
        """Send the due rows of these destinations now; seconds until a held-back one may go."""
        snapshot = snapshot or {}
        held = [await self._send_destination(d, snapshot.get(d)) for d in dict.fromkeys(destinations)]
        waits = [h for h in held if h is not None]
        return min(waits) if waits else None

    async def drain(self) -> float | None:
        """Send every due row of every registered route, waiting for the sends to end."""
        return await self.flush(await self._due_destinations())

    async def _due_destinations(self, grace: float = 0.0) -> list[Destination]:
        """Destinations with rows due (for `grace` seconds at least)."""
        if not self.senders:
            return []
        async with self.store.transaction() as tx:
            records = await tx.due_outbox(self.clock() - timedelta(seconds=grace), routes=self.routes)
        return list(dict.fromkeys(r.envelope.destination for r in records))

    async def _send_destination(
        self, destination: Destination, known: tuple[int, list[OutboxRecord]] | None = None
    ) -> float | None:
        route, text = route_of(destination), destination_text(destination)
        sender = self.senders.get(route)
        if sender is None:
            return None  # another process (or a channel not running here) sends these
        async with self._lock(text):
            if self.shared:
                # Several workers on one database: one of them sends a destination's rows at a
                # time, under a lease that runs out by itself if that worker dies mid-send; and
                # rows read before the lease may have been sent by another worker since.
                if not await self._lease(destination):
                    # Another worker is sending them. It may not see the rows written since it
                    # read (it sends what it read, then lets go), or it may have died holding
                    # the lease: this worker looks again soon rather than at its idle wake.
                    return LEASE_HELD_ELSEWHERE
                known = None
                renewing = asyncio.create_task(self._keep_lease(destination))
            try:
                return await self._send_rows(destination, text, sender, route, known)
            finally:
                # Counted when done: a snapshot taken before now may hold rows sent since.
                self._reads[text] = self._reads.get(text, 0) + 1
                if self.shared:
                    renewing.cancel()
                    self._held.pop(text, None)
                    with contextlib.suppress(Exception):
                        async with self.store.transaction() as tx:
                            await tx.release_destination(destination, self.owner)

    async def _send_rows(
        self,
        destination: Destination,
        text: str,
        sender: Sender,
        route: str,
        known: tuple[int, list[OutboxRecord]] | None,
    ) -> float | None:
        if known is not None and known[0] == self._reads.get(text, 0):
            records = known[1]  # read in the writer's transaction; nothing was sent here since
        else:
            async with self.store.transaction() as tx:
                records = await tx.due_outbox(self.clock(), destination=destination)
        pending = [OutboxRow(r, self._mark_sent, self._note_attempt) for r in records]
        limited = route in self._limits or route in self._overall
        while pending and not self.stopping:
            if pending[0].uncertain >= MAX_UNCERTAIN:  # only a destination's first row can be
                await self._unknown_too_often(pending.pop(0), text)
                continue
            batch = pending
            counted: list[tuple[Limit, int]] = []  # what the limits counted for this batch
            if limited:
                room, wait = await self._room(destination, route, sender, pending, counted)
                if room <= 0:
                    return wait
                batch = pending[:room]
            try:
                if self.shared and not self._holds(text):
                    log.warning("outbox: the lease on %s ran out before a send; leaving the rows", text)
                    return None  # another worker may be sending them; the next round looks again
                task = asyncio.current_task()
                self._delivering.add(task)
                try:
                    returned = await sender.deliver(batch)
                finally:
                    self._delivering.discard(task)
                for row in returned or ():
                    await row.sent()
            except Superseded:
                pass  # that row is done (row.attempt() said so); the rest go on below
            except RetryLater as e:
                row = _first_unsent(batch)
                unknown = isinstance(e, OutcomeUnknown)
                _refused(row, "outcome_unknown" if unknown else "retry_later", retry=True)
                if e.flood and route in self._overall:  # several chats at once: the whole bot waits
                    # (a group's topics are one chat to Telegram: its 20 a minute is not the bot's)
                    await self._flooded(
                        self._overall[route], destination_text(_limit_key(destination)), e.seconds
                    )
                seconds = max(e.seconds, 1) if e.seconds is not None else backoff(row.attempts)
                # A send that failed for sure did not show anything: its noted attempt is taken back.
                uncertain = row.record.uncertain if row.noted and not unknown else None
                await self._postpone(row, str(e), timedelta(seconds=seconds), uncertain)
                return None
            except GiveUp as e:
                row = _first_unsent(batch)
                _refused(row, str(e).split(":", 1)[0].strip()[:40] or "gave_up", retry=False)
                log.error("outbox %s to %s refused for good: %s", row.id, text, e)
                async with self.store.transaction() as tx:
                    await tx.mark_sent(row.id, self.clock(), error=f"gave up: {e}")
                row.done = True
            except Exception as e:  # a bug, an unexpected error: try again later, never drop
                row = _first_unsent(batch)
                _refused(row, type(e).__name__, retry=True)
                delay = min(timedelta(seconds=2 ** min(row.attempts, 12)), MAX_BACKOFF)
                log.warning("outbox %s to %s failed (%r); retrying in %s", row.id, text, e, delay)
                await self._postpone(row, repr(e), delay)
                return None
            else:
                unsent = [r for r in batch if not r.done]
                if unsent:  # a sender that neither sent nor said why: try again soon
                    _refused(unsent[0], "not_sent", retry=True)
                    await self._postpone(unsent[0], "not sent", timedelta(seconds=5))
                    return None
            finally:
                now = self.clock()
                for limit, cost in counted:
                    limit.done(now, cost)
            pending = [r for r in pending if not r.done]
        return None

    async def _lease(self, destination: Destination) -> bool:
        """Take or renew the destination's lease; note until when it surely holds (counted from
        before the call: the database stamped it later)."""
        asked = time.monotonic()
        async with self.store.transaction() as tx:
            held = await tx.lease_destination(destination, self.owner, LEASE_SECONDS)
        text = destination_text(destination)
        if held:
            self._held[text] = asked + LEASE_SECONDS
        else:
            self._held.pop(text, None)
        return held

    def _holds(self, text: str) -> bool:
        """Whether this worker surely still holds the lease, with room for a send to finish."""
        return time.monotonic() < self._held.get(text, 0.0) - LEASE_SECONDS / 2

    async def _keep_lease(self, destination: Destination) -> None:
        """For as long as the destination is held: renew the lease every fifth of it, so that
        another worker never takes over (and sends a row again) only because a call or a rate
        limit is slow."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 5)
            try:
                if not await self._lease(destination):
                    log.warning("outbox: lost the lease on %s", destination_text(destination))
                    return
            except Exception as e:  # the next renewal tries again; `_holds` stops the sends meanwhile
                log.warning("outbox: could not renew a lease: %r", e)

    async def _room(
        self,
        destination: Destination,
        route: str,
        sender: Sender,
        rows: Sequence[OutboxRow],
        counted: list[tuple[Limit, int]],
    ) -> tuple[int, float]:
        """How many of these rows may go now under the destination's own limit and the one its
        route shares, counted as handed over (added to `counted`, for `done` after); else
        (0, the seconds to wait). Counted when handed over, not when sent: a send that then
        fails still counts (the limits err on the safe side), and two topics of one staff group
        cannot both take its last place.

        With several workers (PostgreSQL) the sliding windows (the staff group's 20 a minute,
        the bot's 30 a second) are reserved in the store's shared send log, by the database's
        clock, so they hold for all workers together (there counted from the hand-over: another
        worker's slow sends are not seen as in flight); this worker's own count is looked at first,
        and a window it alone has filled costs no round trip. A private chat's bucket is this
        worker's own: one chat's replies are sent by the worker that ran its turn, and a chat
        whose turns land on two workers within a second or two may get two bursts, which
        Telegram tolerates (and a 429 there postpones that chat only)."""
        now = self.clock()
        costs = _costs(sender, rows)
        limits = [w for w in (self._window(destination, route), self._overall.get(route)) if w is not None]
        count, who = len(rows), destination_text(_limit_key(destination))
        for limit in limits:
            fits = limit.fits(now, costs[:count], who)
            if fits == 0:
                return 0, max(limit.wait(now, costs[0], who), 0.01)
            count = min(count, fits)
        if self.shared:
            for key, window in self._shared_windows(destination, route, limits):
                count, wait = await self._reserve(key, window, costs[:count])
                if count == 0:
                    return 0, wait
        for limit in limits:
            for cost in costs[:count]:
                limit.record(now, cost)
                counted.append((limit, cost))
        return count, 0.0

    def _shared_windows(
        self, destination: Destination, route: str, limits: list[Limit]
    ) -> list[tuple[Destination, SlidingWindow]]:
        """What the shared send log counts: the destination's window, under `_limit_key` (the
        whole staff group), and the shared one under a key no conversation has ("all:telegram")."""
        shared = []
        for limit in limits:
            if isinstance(limit, BotLimit):
                shared.append((Key("all", limit.name), limit))
            elif isinstance(limit, SlidingWindow):
                shared.append((_limit_key(destination), limit))
        return shared

    async def _reserve(self, key: Destination, window: SlidingWindow, costs: list[int]) -> tuple[int, float]:
        wanted = sum(min(c, window.limit) for c in costs)
        if wanted == 0:
            return len(costs), 0.0  # answers to taps: not messages
        async with self.store.transaction() as tx:
            granted = await tx.reserve_sends(key, wanted, window.limit, window.period.total_seconds())
        if granted <= 0:
            return 0, -granted
        count = fitting(costs, granted, window.limit)
        if count == 0:  # less than the first row costs: what was granted stays counted, unused
            return 0, window.period.total_seconds() / window.limit
        return count, 0.0

    async def _flooded(self, overall: BotLimit, destination: str, seconds: float) -> None:
        """A 429; when it shows the whole bot went over, every worker pauses (the shared log)."""
        pause = overall.refused(destination, self.clock(), seconds)
        if pause and self.shared:
            try:
                async with self.store.transaction() as tx:
                    key, period = Key("all", overall.name), overall.period.total_seconds()
                    await tx.pause_sends(key, overall.limit, period, pause)
            except Exception as e:  # this worker pauses all the same
                log.warning("could not tell the other workers to pause: %r", e)

    async def _mark_sent(self, row: OutboxRow) -> None:
        if self.shared:
            asked = time.monotonic()
            async with self.store.transaction() as tx:
                await tx.mark_sent(row.id, self.clock())
                held = await tx.lease_destination(row.destination, self.owner, LEASE_SECONDS)
            if held:
                self._held[destination_text(row.destination)] = asked + LEASE_SECONDS
        else:
            await self.store.mark_sent(row.id, self.clock())
        metrics.sent(route_of(row.destination), _about(row.destination), row.kind)

    async def _note_attempt(self, row: OutboxRow) -> int | None:
        noted = await self.store.note_attempt(row.id)
        if noted is not None and row.uncertain and (row.id, row.uncertain) not in self._warned:
            self._warned.add((row.id, row.uncertain))  # once per resend, not per 429 in between
            log.warning(
                "outbox %s to %s: sending again after %s send(s) of unknown outcome; it may arrive twice",
                row.id,
                destination_text(row.destination),
                row.uncertain,
            )
        return noted

    async def _unknown_too_often(self, row: OutboxRow, text: str) -> None:
        log.error(
            "outbox %s to %s: %s sends of unknown outcome; not sending it again", row.id, text, row.uncertain
        )
        _refused(row, "outcome_unknown", retry=False)
        async with self.store.transaction() as tx:
            await tx.mark_sent(
                row.id, self.clock(), error=f"gave up: {row.uncertain} sends of unknown outcome"
            )
        row.done = True

    async def _postpone(
        self, row: OutboxRow, error: str, delay: timedelta, uncertain: int | None = None
    ) -> None:
        # Rounded up to a whole second: SQLite keeps times to the second, and a retry must never
        # come before the wait the platform asked for.
        at = self.clock() + delay
        if at.microsecond:
            at = at.replace(microsecond=0) + timedelta(seconds=1)
        async with self.store.transaction() as tx:
            await tx.postpone(row.id, error, at, uncertain=uncertain)
        self.wake.set()  # the worker's next look may now be sooner than it planned

    # -- the worker ---------------------------------------------------------------------------

    async def _seconds_to_next(self) -> float:
        async with self.store.transaction() as tx:
            upcoming = await tx.next_outbox_time(self.routes)
        if upcoming is None:
            return IDLE_WAKE
        delay = (upcoming - self.clock()).total_seconds()
        # Due rows now are being sent (or held back) by their destination's task, which rings
        # when it ends: only look again a little later, for rows of other destinations.
        return 1.0 if delay <= 0 else min(delay, IDLE_WAKE)

    def _start(self, destination: Destination) -> None:
        """Send one destination's rows in the background, unless that is already under way."""
        text = destination_text(destination)
        if text in self._busy:
            return

        async def send() -> None:
            try:
                held = await self._send_destination(destination)
                if held is not None:
                    await asyncio.sleep(held)
            except Exception:
                log.exception("outbox: sending to %s failed", text)
                await asyncio.sleep(1)
            finally:
                del self._busy[text]
                self.wake.set()

        self._busy[text] = asyncio.create_task(send(), name=f"outbox {text}")

    async def run(self) -> None:
        """Until cancelled: start sending each due destination (a stuck one never holds up the
        others), then sleep until woken or something falls due."""
        try:
            while True:
                self.wake.clear()
                try:
                    # Several workers: a row just written is being sent by the worker that wrote
                    # it (its flush); the others take only rows left over for a moment (that
                    # worker died, or does not serve the route), not race it for every row.
                    grace = LEFTOVER_GRACE if self.shared else 0.0
                    for destination in await self._due_destinations(grace):
                        self._start(destination)
                    delay = await self._seconds_to_next()
                except Exception:
                    log.exception("outbox worker: the store failed; trying again")
                    delay = 5.0
                # Rows that are due but held back or just failed: look again soon, not in a spin.
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
                # arrives as the event is set, and the worker would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(delay, 0.05)):
                        await self.wake.wait()
        finally:
            # Stopping: calls on their way to a platform finish (and are marked sent), then stop.
            self.stopping = True
            in_flight = [t for t in self._busy.values() if t in self._delivering]
            if in_flight:
                await asyncio.wait(in_flight, timeout=STOP_GRACE)
            for task in list(self._busy.values()):
                task.cancel()


def _refused(row: OutboxRow, error: str, *, retry: bool) -> None:
    metrics.refused(route_of(row.destination), _about(row.destination), row.kind, error, retry=retry)


def _about(destination: Destination):
    """The conversation a message is about, for its log line (a staff topic: the customer's)."""
    return destination.about if isinstance(destination, Staff) else destination


def _limit_key(destination: Destination) -> Destination:
    """What a shared limit counts: the whole staff desk (Telegram's 20 a minute is per group,
    whichever topic), else the destination itself."""
    return Staff() if isinstance(destination, Staff) else destination


def _costs(sender: Sender, rows: Sequence[OutboxRow]) -> list[int]:
    costs = getattr(sender, "costs", None)
    return [1] * len(rows) if costs is None else [max(int(c), 0) for c in costs(rows)]


def _first_unsent(rows: Sequence[OutboxRow]) -> OutboxRow:
    return next(r for r in rows if not r.done)
