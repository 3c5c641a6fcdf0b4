"""What losing nothing costs at least: the bound under versus' ratios to the in-memory bot.

quotebot and "PTB default" (benchmarks/baseline.py, state in memory) run versus' rounds in
turn, three times over: updates one after another, and 100 chats queued at once. For each bot,
the CPU time of the process per update (the other bot is idle meanwhile); for quotebot, also
the time spent inside SQLite per update: the turns' statements (run on the event loop), the
marks of messages sent, and the COMMITs (in the database thread, where the fsync is waited
for). PTB default does none of that: its state is a dict.

From these, the highest ratio to PTB default that any bot storing what quotebot stores (each
update, each turn's state and messages, each send's mark) could reach in one Python process,
even with no other cost than PTB default's own: queued, PTB default's CPU per update over that
plus the SQLite time (the COMMITs left out: they are shared by a group and wait in another
thread); one after another, PTB default's time per update over that plus the SQLite time and
the COMMIT's (each update waits for its own fsync before its reply). versus' targets
(>= 1.0x queued, >= 0.8x one after another) are above these bounds when the bounds read lower.

No TARGETS: these figures explain versus' ratios, they are not goals of their own.
"""

from __future__ import annotations

import contextlib
import resource
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory

from benchmarks.common import Result, bench_dir, fmt, info, ms
from benchmarks.contenders import Baseline, Contender, Ours
from benchmarks.versus import STORED, one_after_another, queued
from bot.store import sqlite, sqlite_queries

ROUNDS = 3
KINDS = ("statements", "marks", "commits")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def sqlite_time() -> Iterator[dict[str, float]]:
    """Seconds spent in the SQLite store's calls while inside, by kind (see KINDS), and how
    many of each were made. Wraps the store's own seams for the time of the measurement."""
    spent = dict.fromkeys(KINDS, 0.0) | {f"{kind} calls": 0 for kind in KINDS}
    clock = time.perf_counter

    def timed(kind: str, fn, is_async: bool):
        if is_async:

            async def wrapper(*args, **kwargs):
                start = clock()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    spent[kind] += clock() - start
                    spent[f"{kind} calls"] += 1

        else:

            def wrapper(*args, **kwargs):
                start = clock()
                try:
                    return fn(*args, **kwargs)
                finally:
                    spent[kind] += clock() - start
                    spent[f"{kind} calls"] += 1

        return wrapper

    seams = [
        (sqlite_queries._Here, name, "statements", True)
        for name in ("execute", "execute_fetchall", "executemany")
    ]
    seams += [(sqlite.SqliteStore, "_mark_unsynced", "marks", False)]
    seams += [(sqlite.SqliteStore, "_commit", "commits", False)]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _, _ in seams]
    try:
        for owner, name, kind, is_async in seams:
            setattr(owner, name, timed(kind, getattr(owner, name), is_async))
        yield spent
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


async def _round(bot: Contender, kind: str) -> tuple[int, float, float]:
    """(updates, CPU seconds, wall seconds) of one round."""
    cpu, wall = _cpu(), time.perf_counter()
    if kind == "one after another":
        _, latencies = await one_after_another(bot)
        updates = len(latencies)
    else:
        _, own = await queued(bot, 100)
        updates = len(own)
    return updates, _cpu() - cpu, time.perf_counter() - wall


async def run() -> list[Result]:
    with TemporaryDirectory(prefix="quotebot-floor-", dir=bench_dir()) as folder:
        ours, default = Ours(Path(folder)), Baseline(Path(folder), "default")
        for bot in (ours, default):
            await bot.prepare(STORED)
            await bot.open()
        try:
            return await _measure(ours, default)
        finally:
            for bot in (ours, default):
                await bot.close()


async def _measure(ours: Ours, default: Baseline) -> list[Result]:
    for bot in (ours, default):  # warm-up: templates compiled, files warm
        await queued(bot, 10)
    results: list[Result] = []
    for kind in ("one after another", "100 chats queued"):
        cpu: dict[str, list[float]] = {"ours": [], "default": []}
        wall: dict[str, list[float]] = {"ours": [], "default": []}
        inside: dict[str, list[float]] = {k: [] for k in KINDS}
        calls: dict[str, list[float]] = {k: [] for k in KINDS}
        for _ in range(ROUNDS):
            with sqlite_time() as spent:
                updates, seconds, took = await _round(ours, kind)
            cpu["ours"].append(seconds / updates)
            wall["ours"].append(took / updates)
            for k in KINDS:
                inside[k].append(spent[k] / updates)
                calls[k].append(spent[f"{k} calls"] / updates)
            updates, seconds, took = await _round(default, kind)
            cpu["default"].append(seconds / updates)
            wall["default"].append(took / updates)
        median = {name: statistics.median(v) for name, v in cpu.items()}
        in_sqlite = {k: statistics.median(v) for k, v in inside.items()}
        for name, label in (("ours", "quotebot"), ("default", "PTB default")):
            results.append(
                Result(
                    "floor",
                    f"CPU per update, {kind}: {label}",
                    ms(median[name]),
                    info("ms"),
                    f"wall {fmt(ms(statistics.median(wall[name])))} ms an update",
                )
            )
        per_call = ", ".join(f"{k} {statistics.median(calls[k]):.1f}" for k in KINDS)
        results.append(
            Result(
                "floor",
                f"in SQLite per update, {kind}: quotebot",
                ms(in_sqlite["statements"] + in_sqlite["marks"]),
                info("ms"),
                f"statements {fmt(ms(in_sqlite['statements']))} + marks {fmt(ms(in_sqlite['marks']))} ms"
                f" on the event loop; COMMITs {fmt(ms(in_sqlite['commits']))} ms in the database thread;"
                f" calls an update: {per_call}",
            )
        )
        sql = in_sqlite["statements"] + in_sqlite["marks"]
        if kind == "one after another":
            theirs = statistics.median(wall["default"])
            bound = theirs / (theirs + sql + in_sqlite["commits"])
            how = "PTB default's wall per update / (that + SQLite + COMMIT); versus' target 0.8x"
        else:
            theirs = median["default"]
            bound = theirs / (theirs + sql)
            how = "PTB default's CPU per update / (that + SQLite, COMMITs left out); versus' target 1.0x"
        results.append(
            Result(
                "floor",
                f"highest ratio to PTB default a durable bot could reach, {kind}",
                bound,
                info("x"),
                how,
            )
        )
    return results
