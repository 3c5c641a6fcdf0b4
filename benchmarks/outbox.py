"""The outbox worker draining 1,000 due rows to a deliver that does nothing.

Rows are queued through the store as the engine queues them (reminders with a button, relays,
staff alerts), then `OutboxWorker.drain()` runs until all are sent. Each row is delivered and
then marked sent in its own transaction (synchronous=FULL: one fsync a row), exactly as in
production; only the Telegram call is replaced by a no-op, and no per-chat rate limit is set
(those hold rows back on purpose, which is Telegram's rule, not the worker's speed). Then the
same again with 100,000 already-sent rows in the table, as after months of running.

TARGETS: >= 100 rows a second, fresh and with 100k sent rows kept.

Why: Telegram accepts about 30 messages a second from a bot in all, so the worker only has to
be faster than that to never be the bottleneck; 3x leaves room to catch up after a burst (a
restart, a flood-control pause). Sent rows are never deleted, so the rate must not depend on
how many there are (the due-rows query reads a partial index of unsent rows only).
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from contextlib import closing
from pathlib import Path

from benchmarks.common import NOW, FixedClock, Result, Target, fmt, spread, temp_app
from bot.effects import STAFF
from bot.outbox import OutboxWorker
from bot.store import utc_text

FRESH_TARGET = Target(">=", 100, "rows/s")
HISTORY_TARGET = Target(">=", 100, "rows/s")

ROWS = 1_000
ROUNDS = 3  # each drains ROWS new rows; the median round counts
HISTORY = 100_000


def payload(n: int) -> dict:
    ref = f"I-20261122-{n % 9999 + 1:04d}"
    text = (
        f"<b>⏰ リマインダー（{ref}）</b>\n個人情報保護委員会への速報の期限が近づいています。"
        "発覚から3〜5日以内に、分かっている範囲で報告してください。\n完了したら下のボタンを押してください。"
    )
    return {"text": text, "buttons": [[f"ck.{ref}.ppc_prelim", "完了にする"]]}


def destination(n: int) -> str:
    return STAFF if n % 10 == 0 else f"telegram:{1_000 + n % 250}"


def add_history(path: Path) -> None:
    """HISTORY rows sent long ago, straight through sqlite3 (a fixture, no fsync)."""
    stamp = utc_text(NOW.replace(year=2026, month=1))
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO outbox (destination, payload, not_before, sent_at, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            ((destination(n), payload(n)["text"], stamp, stamp, stamp) for n in range(HISTORY)),
        )
        db.execute("COMMIT")


async def drain_rate(app) -> float:
    async with app.store.transaction() as tx:
        for n in range(ROWS):
            await tx.enqueue(destination(n), payload(n), NOW)
    delivered: list[int] = []

    async def deliver(row: dict) -> None:
        delivered.append(row["id"])

    worker = OutboxWorker(app.store, FixedClock(), ("telegram:", STAFF), deliver)
    start = time.perf_counter()
    while len(delivered) < ROWS:
        before = len(delivered)
        await worker.drain()
        if len(delivered) == before:
            raise AssertionError(f"the worker stopped after {before} of {ROWS} rows")
    elapsed = time.perf_counter() - start
    if len(set(delivered)) != ROWS:
        raise AssertionError("a row was delivered twice")
    return ROWS / elapsed


async def run() -> list[Result]:
    async with temp_app() as app:
        fresh = [await drain_rate(app) for _ in range(ROUNDS)]
    async with temp_app(prepare=add_history) as app:
        history = [await drain_rate(app) for _ in range(ROUNDS)]
    ratio = statistics.median(history) / statistics.median(fresh)
    return [
        Result(
            "outbox",
            f"rows/s draining {ROWS:,} rows",
            statistics.median(fresh),
            FRESH_TARGET,
            f"{spread(fresh)}; one commit (fsync) a row",
        ),
        Result(
            "outbox",
            f"rows/s with {HISTORY // 1000}k sent rows kept",
            statistics.median(history),
            HISTORY_TARGET,
            f"{spread(history)}; {fmt(ratio)}x the fresh rate",
        ),
    ]
