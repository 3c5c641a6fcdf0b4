"""Send what the engine queued (staff alerts, relays, reminders), at once and never silently lost.

A channel runs one `OutboxWorker` with its own `deliver(row)`. The worker wakes when the
engine commits new messages or when the next one falls due, sends each due row outside any
transaction, and marks it sent. A failure is retried with backoff; Telegram's "retry after"
is honoured; a limit per destination (20 a minute for the staff group) holds back only that
destination's rows, never the others'. A permanent refusal is logged as an error and kept in
the table with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from bot.store import Store

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
IDLE_WAKE = 30.0  # seconds: look again even if nobody rang


class RetryLater(Exception):
    """The platform asked us to wait (Telegram 429) or a transient error occurred."""

    def __init__(self, seconds: float, reason: str = ""):
        super().__init__(reason or f"retry after {seconds}s")
        self.seconds = seconds


class GiveUp(Exception):
    """The platform will never accept this message (bot blocked, chat gone)."""


class SlidingWindow:
    """At most `limit` sends per `period` for one destination."""

    def __init__(self, limit: int, period: timedelta):
        self.limit, self.period = limit, period
        self.sent: deque[datetime] = deque()

    def wait(self, now: datetime) -> float:
        """Seconds until another send is allowed (0 when it is allowed now)."""
        while self.sent and now - self.sent[0] >= self.period:
            self.sent.popleft()
        if len(self.sent) < self.limit:
            return 0.0
        return (self.sent[0] + self.period - now).total_seconds()

    def record(self, now: datetime) -> None:
        self.sent.append(now)


class OutboxWorker:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        prefixes: tuple[str, ...],
        deliver: Callable[[dict], Awaitable[None]],
        *,
        wake: asyncio.Event | None = None,
        limits: Mapping[str, Callable[[], SlidingWindow]] | None = None,
    ):
        self.store, self.clock, self.prefixes, self.deliver = store, clock, prefixes, deliver
        self.wake = wake or asyncio.Event()
        self._limit_factories = dict(limits or {})
        self._windows: dict[str, SlidingWindow] = {}

    def _window(self, destination: str) -> SlidingWindow | None:
        for prefix, factory in self._limit_factories.items():
            if destination.startswith(prefix):
                return self._windows.setdefault(destination, factory())
        return None

    async def drain(self) -> float | None:
        """Send every due row that its destination's limit allows.

        Returns the seconds until something held back by a limit may go, or None.
        """
        async with self.store.transaction() as tx:
            rows = await tx.due_outbox(self.clock(), self.prefixes)
        held: list[float] = []
        for row in rows:
            window = self._window(row["destination"])
            wait = window.wait(self.clock()) if window else 0.0
            if wait > 0:
                held.append(wait)
                continue
            await self._send(row, window)
        return min(held) if held else None

    async def _send(self, row: dict, window: SlidingWindow | None) -> None:
        try:
            await self.deliver(row)
        except RetryLater as e:
            await self._later(row, str(e), timedelta(seconds=max(e.seconds, 1)))
        except GiveUp as e:
            log.error("outbox %s to %s refused for good: %s", row["id"], row["destination"], e)
            async with self.store.transaction() as tx:
                await tx.mark_sent(row["id"], self.clock(), error=f"gave up: {e}")
        except Exception as e:  # the network, a bug: try again later, never drop
            backoff = min(timedelta(seconds=2 ** min(row["attempts"], 12)), MAX_BACKOFF)
            log.warning("outbox %s failed (%r); retrying in %s", row["id"], e, backoff)
            await self._later(row, repr(e), backoff)
        else:
            if window:
                window.record(self.clock())
            async with self.store.transaction() as tx:
                await tx.mark_sent(row["id"], self.clock())

    async def _later(self, row: dict, error: str, delay: timedelta) -> None:
        async with self.store.transaction() as tx:
            await tx.retry_later(row["id"], error, self.clock() + delay)

    async def _seconds_to_next(self) -> float:
        async with self.store.transaction() as tx:
            upcoming = await tx.next_outbox_time(self.prefixes)
        if upcoming is None:
            return IDLE_WAKE
        delay = (datetime.fromisoformat(upcoming) - self.clock()).total_seconds()
        return min(max(delay, 0.0), IDLE_WAKE)

    async def run(self) -> None:
        """Until cancelled: drain, then sleep until woken or something falls due."""
        while True:
            self.wake.clear()
            held = await self.drain()
            delay = await self._seconds_to_next()
            if held is not None:
                delay = min(delay, held)
            # Rows that are due but were held back or just failed: look again soon, not in a spin.
            delay = max(delay, 0.05)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=delay)
