"""The outbox worker draining 1,000 due rows to a deliver that does nothing.

Rows are queued through the store as the engine queues them (reminders with a button, relays,
staff alerts), then `Outbox.drain()` runs until all are sent. Each row is delivered and then
marked sent by its own commit (synchronous=FULL: one fsync a row), exactly as in production;
only the Telegram call is replaced by a sender that sends nothing, and no per-chat rate limit is set
(those hold rows back on purpose, which is Telegram's rule, not the worker's speed). Then the
same again with 100,000 already-sent rows in the table, as after months of running.

TARGETS: >= 100 rows a second, fresh and with 100k sent rows kept.

Why: Telegram accepts about 30 messages a second from a bot in all, so the worker only has to
be faster than that to never be the bottleneck; 3x leaves room to catch up after a burst (a
restart, a flood-control pause). Sent rows are never deleted, so the rate must not depend on
how many there are (the due-rows query reads a partial index of unsent rows only).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from contextlib import closing
from pathlib import Path

from benchmarks.common import NOW, FixedClock, Result, Target, fmt, spread, temp_app
from bot.messages import Envelope, Key, Option, Reply, Staff, destination_text
from bot.outbox import Outbox
from bot.store import utc_text

FRESH_TARGET = Target(">=", 100, "rows/s")
HISTORY_TARGET = Target(">=", 100, "rows/s")

ROWS = 1_000
ROUNDS = 3  # each drains ROWS new rows; the median round counts
HISTORY = 100_000


def payload(n: int) -> Reply:
    ref = f"I-20261122-{n % 9999 + 1:04d}"
    text = (
        f"<b>⏰ リマインダー（{ref}）</b>\n個人情報保護委員会への速報の期限が近づいています。"
        "発覚から3〜5日以内に、分かっている範囲で報告してください。\n完了したら下のボタンを押してください。"
    )
    return Reply("incident/reminder", text, actions=(Option(f"ck.{ref}.ppc_prelim.1", "完了にする"),))


def destination(n: int) -> Key | Staff:
    return Staff() if n % 10 == 0 else Key("telegram", str(1_000 + n % 250))


def envelope(n: int) -> Envelope:
    return Envelope(destination(n), payload(n), kind="alert" if n % 10 == 0 else "reminder")


def add_history(path: Path) -> None:
    """HISTORY rows sent long ago, straight through sqlite3 (a fixture, no fsync)."""
    stamp = utc_text(NOW.replace(year=2026, month=1))
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO envelopes (destination, route, kind, envelope, not_before, sent_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    destination_text(e.destination),
                    e.route,
                    e.kind,
                    json.dumps(e.to_json()),
                    stamp,
                    stamp,
                    stamp,
                )
                for e in map(envelope, range(HISTORY))
            ),
        )
        db.execute("COMMIT")


async def drain_rate(app) -> float:
    async with app.store.transaction() as tx:
        for n in range(ROWS):
            await tx.enqueue(envelope(n), NOW)
    delivered: list[int] = []

    class Nothing:
        async def deliver(self, rows) -> None:
            for row in rows:
                delivered.append(row.id)
                await row.sent()

    worker = Outbox(app.store, FixedClock())
    worker.register("telegram", Nothing())
    worker.register("staff", Nothing())
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
