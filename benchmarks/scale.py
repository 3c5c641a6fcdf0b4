"""Per-update work does not grow with the number of stored conversations.

The same file is filled, in bulk, to 1k, 10k and then 100k conversations, each with what a
finished quote leaves behind: its state, the saved quote, the transcript rows and the processed
Telegram update ids. At each size the real engine then serves new conversations and returning
ones (a stored conversation starting /quote again), and we take the median of one turn
(accept to sent).

TARGETS: median per turn at 100k / median at 1k < 1.5, and p95 at 100k < 10 ms (engine.py's
per-turn budget, which must hold for a bot that has been running for years, not just on day one).

Why: every query on a turn's path should be a keyed lookup (O(log n)); a missing index or a
scan would show here as a ratio far above 1 (100x more rows). 1.5 leaves room for a B-tree one
level deeper and for fsync noise, nothing more.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import defaultdict
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from benchmarks.common import (
    NOW,
    Result,
    Stats,
    Target,
    bench_app,
    bench_dir,
    fmt,
    ms,
    quote_conversation,
)
from bot.store import utc_text

SIZES = (1_000, 10_000, 100_000)
RATIO_TARGET = Target("<", 1.5, "x")
P95_TARGET = Target("<", 10.0, "ms")

NEW_CONVERSATIONS = 40  # never seen before: the insert path
RETURNING_CONVERSATIONS = 40  # picked at random among the stored ones: the update path
SAMPLE = "telegram:1"


class Filler:
    """Bulk-inserts copies of one real conversation's rows, straight through sqlite3."""

    def __init__(self, path: Path):
        self.path = path
        self.count = 0
        self.update_id = 500_000_000
        self.per_day: dict[str, int] = defaultdict(int)  # quote references issued per day

    def read_sample(self) -> None:
        with closing(sqlite3.connect(self.path)) as db:
            self.state = db.execute("SELECT state FROM conversations WHERE key = ?", (SAMPLE,)).fetchone()[0]
            self.quote = db.execute("SELECT quote FROM quotes WHERE conversation = ?", (SAMPLE,)).fetchone()[
                0
            ]
            self.transcript = db.execute(
                "SELECT speaker, text FROM transcript WHERE conversation = ? ORDER BY id", (SAMPLE,)
            ).fetchall()

    @staticmethod
    def key(n: int) -> str:
        return f"telegram:{10_000_000 + n}"

    def fill_to(self, total: int) -> None:
        """Add conversations until there are `total`, in one transaction (no fsync: a fixture)."""
        first, self.count = self.count, total
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            db.execute("BEGIN")
            # The engine issued references too since the last fill: carry on after them.
            for name, value in db.execute("SELECT name, value FROM counters WHERE name LIKE 'Q-%'"):
                self.per_day[name.removeprefix("Q-")] = value
            moments = {n: NOW - timedelta(days=n % 365, minutes=n % 1440) for n in range(first, total)}
            stamps = {n: utc_text(m) for n, m in moments.items()}
            db.executemany(
                "INSERT INTO conversations (key, channel, state, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                ((self.key(n), "telegram", self.state, stamps[n], stamps[n]) for n in range(first, total)),
            )
            refs = []
            for n in range(first, total):
                day = f"{moments[n]:%Y%m%d}"
                self.per_day[day] += 1
                refs.append((f"Q-{day}-{self.per_day[day]:04d}", self.key(n), stamps[n], self.quote))
            db.executemany(
                "INSERT INTO quotes (ref, conversation, created_at, quote) VALUES (?, ?, ?, ?)", refs
            )
            db.executemany(
                "INSERT INTO counters (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                ((f"Q-{day}", value) for day, value in self.per_day.items()),
            )
            db.executemany(
                "INSERT INTO transcript (conversation, at, speaker, text) VALUES (?, ?, ?, ?)",
                (
                    (self.key(n), stamps[n], speaker, text)
                    for n in range(first, total)
                    for speaker, text in self.transcript
                ),
            )
            db.executemany(
                "INSERT INTO inbox (event_id, conversation, received_at, done_at) VALUES (?, '', ?, ?)",
                (
                    (f"telegram:{self.next_update()}", stamps[n], stamps[n])
                    for n in range(first, total)
                    for _ in range(5)
                ),
            )
            db.execute("COMMIT")
        finally:
            db.close()

    def next_update(self) -> int:
        self.update_id += 1
        return self.update_id

    def rows(self) -> dict[str, int]:
        with closing(sqlite3.connect(self.path)) as db:
            return {
                table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("conversations", "quotes", "transcript", "inbox")
            }


async def _measure(path: Path, filler: Filler, seed: int) -> list[float]:
    """Per-turn seconds for new and returning conversations on the filled file."""
    app = await bench_app(path)
    try:
        rng = random.Random(seed)
        for _ in range(5):  # warm-up: the connection's page cache, jinja2's templates
            await quote_conversation(app, filler.key(rng.randrange(filler.count)))
        latencies: list[float] = []
        returning = rng.sample(range(filler.count), RETURNING_CONVERSATIONS)
        for n in range(max(NEW_CONVERSATIONS, RETURNING_CONVERSATIONS)):
            if n < NEW_CONVERSATIONS:
                await quote_conversation(app, f"telegram:{seed * 1_000_000 + n}", latencies)
            if n < RETURNING_CONVERSATIONS:
                await quote_conversation(app, filler.key(returning[n]), latencies)
        return latencies
    finally:
        await app.close()


async def run() -> list[Result]:
    results: list[Result] = []
    medians: dict[int, float] = {}
    with TemporaryDirectory(prefix="quotebot-bench-", dir=bench_dir()) as folder:
        path = Path(folder) / "quotebot.db"
        app = await bench_app(path)  # the schema, and one real conversation
        await quote_conversation(app, SAMPLE)
        await app.close()
        filler = Filler(path)
        filler.read_sample()
        for size in SIZES:
            start = time.perf_counter()
            filler.fill_to(size)
            filled = time.perf_counter() - start
            stats = Stats.of(await _measure(path, filler, seed=size))
            medians[size] = stats.median
            rows = filler.rows()
            megabytes = path.stat().st_size / 2**20
            detail = (
                f"median {fmt(ms(stats.median))} ms; {rows['transcript']:,} transcript rows,"
                f" {rows['inbox']:,} event ids, {megabytes:,.0f} MB (filled in {filled:.1f} s)"
            )
            metric = f"p95 per turn at {size:,} conversations"
            results.append(Result("scale", metric, ms(stats.p95), P95_TARGET, detail))
    small, large = SIZES[0], SIZES[-1]
    ratio = medians[large] / medians[small]
    results.append(
        Result(
            "scale",
            f"median per turn {large // 1000}k / {small // 1000}k",
            ratio,
            RATIO_TARGET,
            " · ".join(f"{s // 1000}k: {fmt(ms(m))} ms" for s, m in medians.items()),
        )
    )
    return results
