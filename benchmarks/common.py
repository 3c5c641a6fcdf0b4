"""The measuring kit every benchmark shares: timing, statistics, results, and a bot to drive.

Timing is `time.perf_counter`, after a warm-up, over many repetitions; we report the median
(what a typical call costs) and p95 (what the slow tail costs), nearest-rank. A `Result` pairs
one measured figure with its target; the runner prints them all and fails if any is missed.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import math
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.app import App, open_app
from bot.messages import Inbound, Key, Reply
from bot.store import open_store
from rates.coverage import JST

# Sunday 22 November 2026, 10:00 JST: the same "today" as the transcript tests.
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=JST)

# The quote conversation as a Telegram user has it: a command, a typed amount, three taps.
QUOTE_TURNS: tuple[tuple[str, str], ...] = (
    ("text", "/quote"),
    ("text", "3億"),
    ("tap", "quote.industry.retail"),
    # A multi-select button sets a state on one version of the keyboard: tick on keyboard 0,
    # then 完了 on keyboard 1, as a fresh conversation shows them.
    ("tap", "quote.channels.rakuten.1.v0"),
    ("tap", "quote.channels.done.v1"),
)
# The same conversation typed, as some users do (labels and 完了 instead of buttons).
QUOTE_TEXTS: tuple[str, ...] = ("/quote", "3億", "小売業", "楽天市場", "完了")


class FixedClock:
    def __call__(self) -> datetime:
        return NOW


# -- statistics and results ---------------------------------------------------------------------


def percentile(samples: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): a value that was actually measured."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Stats:
    n: int
    median: float
    p95: float
    mean: float

    @classmethod
    def of(cls, samples: list[float]) -> Stats:
        return cls(
            len(samples), statistics.median(samples), percentile(samples, 95), statistics.fmean(samples)
        )


@dataclass(frozen=True)
class Target:
    """`value` is a ceiling ("<", "<=") or a floor (">=") for the measured figure; "info" is a
    figure shown for comparison (a baseline's), with no target of its own."""

    op: str  # "<", "<=", ">=" or "info"
    value: float
    unit: str

    def met(self, measured: float) -> bool:
        if self.op == "info":
            return True
        if self.op == "<":
            return measured < self.value
        if self.op == "<=":
            return measured <= self.value
        return measured >= self.value


def info(unit: str) -> Target:
    return Target("info", 0, unit)


@dataclass(frozen=True)
class Result:
    area: str
    metric: str
    measured: float
    target: Target
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.target.met(self.measured)


def us(seconds: float) -> float:
    return seconds * 1e6


def ms(seconds: float) -> float:
    return seconds * 1e3


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def spread(rates: list[float]) -> str:
    """How far apart the rounds were: "3 rounds 550-610"."""
    return f"{len(rates)} rounds {fmt(min(rates))}-{fmt(max(rates))}"


# -- timing ---------------------------------------------------------------------------------------


def time_each(call: Callable[[object], object], inputs: list, *, warmup: int, repeats: int) -> list[float]:
    """Seconds per call of `call(x)`, for every x in `inputs`, `repeats` times (after warm-up)."""
    for _ in range(warmup):
        for x in inputs:
            call(x)
    gc.collect()
    samples = []
    clock = time.perf_counter
    for _ in range(repeats):
        for x in inputs:
            start = clock()
            call(x)
            samples.append(clock() - start)
    return samples


# -- a bot on a real SQLite file ------------------------------------------------------------------


def bench_dir() -> str | None:
    """Where database files go: $QUOTEBOT_BENCH_DIR, else the system's temporary directory.

    Put it on a real disk: on tmpfs an fsync costs nothing and synchronous=FULL looks free.
    """
    return os.environ.get("QUOTEBOT_BENCH_DIR") or None


def filesystem_of(path: str | Path) -> str:
    """The filesystem type under `path` (Linux /proc/mounts), or "?"."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                point = fields[1]
                if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                    best, kind = point, fields[2]
    except OSError:
        pass
    return kind


def fsync_latency(folder: str, writes: int = 50) -> float:
    """Median seconds to write 4 KiB and fsync it: what one synchronous=FULL commit waits for."""
    samples = []
    with tempfile.NamedTemporaryFile(dir=folder) as f:
        for _ in range(writes):
            start = time.perf_counter()
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


@asynccontextmanager
async def temp_app(prepare: Callable[[Path], None] | None = None) -> AsyncIterator[App]:
    """The real app (rates, templates, store with WAL and synchronous=FULL) on a fresh file.

    `prepare(path)` may fill the migrated, closed file first (bulk fixtures through sqlite3).
    """
    with tempfile.TemporaryDirectory(prefix="quotebot-bench-", dir=bench_dir()) as folder:
        path = Path(folder) / "quotebot.db"
        if prepare is not None:
            await (await open_store(path)).close()
            prepare(path)
        app = await bench_app(path)
        try:
            yield app
        finally:
            await app.close()


class Replies:
    """A sender that keeps the replies it is handed, per conversation (and says they were sent)."""

    def __init__(self):
        self.by_conversation: dict[Key, list[Reply]] = {}
        self.held: dict[Key, asyncio.Event] = {}  # a send to these hangs until the event is set

    async def deliver(self, rows) -> None:
        for row in rows:
            if row.destination in self.held:
                await self.held[row.destination].wait()
            if isinstance(row.body, Reply):
                self.by_conversation.setdefault(row.destination, []).append(row.body)
            await row.sent()


@dataclass(frozen=True)
class Outcome:
    replies: tuple[Reply, ...]


async def bench_app(path: Path) -> App:
    """The real app, with a sender for the routes benchmarks talk on."""
    app = await open_app(str(path), env={}, clock=FixedClock())
    app.replies = Replies()  # type: ignore[attr-defined]
    for route in ("telegram", "console"):
        app.register(route, app.replies)  # type: ignore[attr-defined]
    return app


_event_ids = itertools.count(1)
# Unique across runs too: a database kept between runs (pg_scale's) has seen the last run's ids.
_run = uuid.uuid4().hex[:8]


def inbound(conversation: str, kind: str, text: str) -> Inbound:
    return Inbound(
        Key.parse(conversation),
        kind,
        text,
        event_id=f"bench:{_run}:{next(_event_ids)}",
        locale_hint="ja",
        user_name="Taro",
    )


async def turn(app: App, event: Inbound) -> Outcome:
    """One event in the one way channels use (accept, then its turn and its sends); its replies."""
    replies: Replies = app.replies  # type: ignore[attr-defined]
    before = len(replies.by_conversation.get(event.conversation, []))
    await app.engine.accept([event])
    await app.engine.settle([event.conversation])
    return Outcome(tuple(replies.by_conversation.get(event.conversation, [])[before:]))


def shown_token(outcome: Outcome, token: str) -> str:
    """The button as the last replies show it: a multi-select button also carries the state it
    sets and the keyboard's version, which differ in a conversation filled in bulk."""
    button = ".".join(token.split(".")[:3])  # dialog, step, option
    for reply in reversed(outcome.replies):
        for option in reply.buttons:
            if option.token == button or option.token.startswith(button + "."):
                return option.token
    return token


async def quote_conversation(app: App, conversation: str, latencies: list[float] | None = None) -> Outcome:
    """One whole quote conversation; each turn's seconds (accept to sent) go into `latencies`."""
    clock = time.perf_counter
    outcome = None
    for kind, text in QUOTE_TURNS:
        if kind == "tap" and outcome is not None:
            text = shown_token(outcome, text)
        start = clock()
        outcome = await turn(app, inbound(conversation, kind, text))
        if latencies is not None:
            latencies.append(clock() - start)
    if outcome is None or [r.key for r in outcome.replies] != ["quote/summary", "quote/next"]:
        raise AssertionError(f"the quote conversation {conversation} did not end with a result: {outcome}")
    return outcome
