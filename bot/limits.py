"""How fast the bot may send: limits the outbox checks before it hands rows to a sender.

Telegram's Bot FAQ ("My bot is hitting limits"): in one chat avoid more than one message a
second, though short bursts are allowed; to many users, not more than about 30 messages a
second; to one group, not more than 20 a minute. The outbox asks each limit how many of a
destination's due rows may go now (`fits`), counts them when they are handed over (`record`)
and again when the sender is done with them (`done`), and otherwise learns how long to wait
(`wait`) and leaves the rows for later: a destination that has to wait never holds up another.

Each row costs what the sender says it will send (`Sender.costs`, 1 unless told): a long text cut
in two costs 2, a tap's answer (answerCallbackQuery) costs 0, for it is not a message.
A row that costs more than a limit allows at all is counted as costing the whole limit.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

log = logging.getLogger(__name__)


class Limit(Protocol):
    def fits(self, now: datetime, costs: Sequence[int], who: str | None = None) -> int:
        """How many of these rows (their costs, in order) of destination `who` may go now."""

    def wait(self, now: datetime, cost: int, who: str | None = None) -> float:
        """Seconds until a row of this cost may go (0 when it may go now)."""

    def record(self, now: datetime, cost: int) -> None:
        """A row of this cost was handed to the sender."""

    def done(self, now: datetime, cost: int) -> None:
        """The sender is done with a row `record` counted (sent, failed or unknown)."""

    def idle(self, now: datetime) -> bool:
        """Nothing sent lately counts any more (the limit can be forgotten)."""


def fitting(costs: Sequence[int], room: float, cap: int) -> int:
    """How many of the leading rows fit in `room` (a row counted as at most `cap`)."""
    taken = 0
    for n, cost in enumerate(costs):
        taken += min(cost, cap)
        if taken > room:
            return n
    return len(costs)


# A destination waiting for a place in the bot's window that has not asked again within its
# period and this long has gone another way (its rows were sent or dropped): it keeps no place.
WAITER_GONE = timedelta(seconds=2)
# When the window is full of sends still on their way, when one ends is not known: look again.
IN_FLIGHT_POLL = 0.2


class SlidingWindow:
    """At most `limit` messages arrive in any `period` (a group's 20 a minute, the bot's 30 a
    second).

    A send counts from when it is handed over until `period` after the sender is done with it,
    so wherever Telegram's clock puts its arrival (between the two), no `period` of arrivals
    holds more than `limit`: a busy process whose sends are slow to go out cannot let one
    second's grants arrive on top of the next second's."""

    def __init__(self, limit: int, period: timedelta):
        self.limit, self.period = limit, period
        self.sent: deque[datetime] = deque()  # when each send the window still counts was done
        self.in_flight = 0  # handed over, not done yet

    def room(self, now: datetime) -> int:
        while self.sent and now - self.sent[0] >= self.period:
            self.sent.popleft()
        return self.limit - len(self.sent) - self.in_flight

    def fits(self, now: datetime, costs: Sequence[int], who: str | None = None) -> int:
        return fitting(costs, self.room(now), self.limit)

    def wait(self, now: datetime, cost: int = 1, who: str | None = None) -> float:
        room, cost = self.room(now), min(cost, self.limit)
        if room >= cost:
            return 0.0
        if cost - room > len(self.sent):
            return IN_FLIGHT_POLL
        # The oldest sends leave the window first: wait until enough of them have left.
        return (self.sent[cost - room - 1] + self.period - now).total_seconds()

    def record(self, now: datetime, cost: int = 1) -> None:
        self.in_flight += min(cost, self.limit)

    def done(self, now: datetime, cost: int = 1) -> None:
        cost = min(cost, self.limit, self.in_flight)
        self.in_flight -= cost
        self.sent.extend([now] * cost)

    def idle(self, now: datetime) -> bool:
        return self.room(now) == self.limit


class TokenBucket:
    """`rate` messages a second on average, with bursts of up to `burst` at once.

    One private chat: Telegram asks for about one message a second there but allows short
    bursts. A strict one a second would hold back the second message of every reply that is two
    messages (a quote's result, the incident checklist); a bucket lets one turn's few messages go
    together and still slows a flood to one chat to one a second."""

    def __init__(self, burst: int, rate: float):
        self.burst, self.rate = burst, rate
        self.tokens = float(burst)
        self.at: datetime | None = None

    def _fill(self, now: datetime) -> float:
        if self.at is not None:
            elapsed = max((now - self.at).total_seconds(), 0.0)
            self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)
        self.at = now
        return self.tokens

    def fits(self, now: datetime, costs: Sequence[int], who: str | None = None) -> int:
        return fitting(costs, self._fill(now), self.burst)

    def wait(self, now: datetime, cost: int = 1, who: str | None = None) -> float:
        missing = min(cost, self.burst) - self._fill(now)
        return max(missing / self.rate, 0.0)

    def record(self, now: datetime, cost: int = 1) -> None:
        self._fill(now)
        self.tokens -= min(cost, self.burst)

    def done(self, now: datetime, cost: int = 1) -> None:
        pass  # a chat's bucket counts a message when it is handed over

    def idle(self, now: datetime) -> bool:
        return self._fill(now) >= self.burst


class BotLimit(SlidingWindow):
    """One limit over every destination of the routes that share it: Telegram's ~30 messages a
    second for the whole bot (its user chats and its staff group alike).

    Telegram's 429 does not say whether one chat or the whole bot was too fast. One chat's 429
    postpones that chat only (the outbox does that); when `flooded` different destinations are
    refused with 429 while each is still waiting out its retry_after, the bot as a whole went
    over: everything under this limit pauses until the longest of those waits is over. Five,
    not two or three: a few unrelated chats' 429s close together (the chaos run's random ones)
    are not the bot's, while the bot's own flood refuses every chat it sends to at once.

    When more is owed than the limit lets go, destinations get places in the order they were
    first refused one: a chat that has waited goes before one whose turn has just ended (each
    waiting chat is tried again when its wait is over, and without a queue the new turns' replies
    took the places as they came free, so that some rows waited a minute while others went at
    once). A destination that has not asked again for a while (its rows went another way) is
    forgotten."""

    def __init__(self, name: str, limit: int, period: timedelta, *, flooded: int = 5):
        super().__init__(limit, period)
        self.name, self.flooded = name, flooded
        self.paused_until: datetime | None = None
        self._refused: dict[str, datetime] = {}  # destination → until when its 429 said to wait
        # Destinations refused a place, the longest waiting first → when each last asked.
        self._waiting: dict[str, datetime] = {}

    def _paused(self, now: datetime) -> float:
        if self.paused_until is None or self.paused_until <= now:
            return 0.0
        return (self.paused_until - now).total_seconds()

    def _ahead(self, now: datetime, who: str | None) -> int:
        """How many destinations have waited for a place longer than `who` (all, if it has not)."""
        gone = now - self.period - WAITER_GONE
        self._waiting = {d: asked for d, asked in self._waiting.items() if asked > gone}
        if who is None:
            return 0
        return list(self._waiting).index(who) if who in self._waiting else len(self._waiting)

    def fits(self, now: datetime, costs: Sequence[int], who: str | None = None) -> int:
        if self._paused(now):
            return 0
        count = fitting(costs, self.room(now) - self._ahead(now, who), self.limit)
        if who is not None:
            if count:
                self._waiting.pop(who, None)
            else:
                self._waiting[who] = now  # a destination already waiting keeps its place
        return count

    def wait(self, now: datetime, cost: int = 1, who: str | None = None) -> float:
        ahead = self._ahead(now, who)
        return self._paused(now) or super().wait(now, min(cost + ahead, self.limit))

    def refused(self, destination: str, now: datetime, seconds: float) -> float:
        """A 429 for this destination, to wait `seconds`. Returns the seconds everything now
        pauses for when this 429 started (or lengthened) the pause, else 0."""
        self._refused = {d: until for d, until in self._refused.items() if until > now}
        self._refused[destination] = now + timedelta(seconds=seconds)
        if len(self._refused) >= self.flooded:
            until = max(self._refused.values())
            if not self._paused(now):
                log.warning(
                    "%s: %d chats refused with 429 at once; pausing every send for %.0f s",
                    self.name,
                    len(self._refused),
                    (until - now).total_seconds(),
                )
            if self.paused_until is None or until > self.paused_until:
                self.paused_until = until
                return (until - now).total_seconds()
        return 0.0
