"""Many conversations at once: 200 quote conversations interleaved with asyncio.gather.

Every conversation sends its five turns one after another, as a person would, and all 200 run
together on one engine and one SQLite file (three such bursts; the median counts). Between
them, as many bursts run while one other conversation is stuck: the send of its reply hangs
(as a platform that never answers would), so its next turn waits behind it.

TARGETS: >= 100 turns a second for the burst; with one conversation stuck, the others keep
>= 80% of that throughput (and the stuck one is answered once its lock is free).

Why: 100 turns a second is the engine's target (engine.py) and must hold when conversations
overlap, which is the normal case. A stuck conversation must cost the others nothing: the
engine runs each conversation in its own task, so only that user waits. 80% allows for run-to-run noise; a
real stall would show as 0 (the burst would wait for the lock, or time out).
"""

from __future__ import annotations

import asyncio
import statistics
import time

from benchmarks.common import (
    QUOTE_TURNS,
    Result,
    Stats,
    Target,
    fmt,
    inbound,
    ms,
    quote_conversation,
    spread,
    temp_app,
    turn,
)

THROUGHPUT_TARGET = Target(">=", 100, "turns/s")
STUCK_TARGET = Target(">=", 0.8, "x")

CONVERSATIONS = 200
ROUNDS = 3
TIMEOUT = 60.0  # seconds: a stalled burst is reported, not waited for forever


async def burst(app, first: int, latencies: list[float]) -> float:
    """Seconds for CONVERSATIONS whole quote conversations run together."""
    start = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(
            *(quote_conversation(app, f"telegram:{first + n}", latencies) for n in range(CONVERSATIONS))
        ),
        TIMEOUT,
    )
    return time.perf_counter() - start


async def stuck_burst(app, first: int, turns: int) -> float:
    """Turns a second for a burst while one more conversation's send hangs."""
    stuck = inbound(f"telegram:{first - 1}", "text", "/quote")
    release = app.replies.held[stuck.conversation] = asyncio.Event()
    waiting = asyncio.create_task(turn(app, stuck))
    await asyncio.sleep(0)
    try:
        rate = turns / await burst(app, first, [])
    except TimeoutError:
        rate = 0.0  # stalled: reported as a miss, not waited for forever
    finally:
        still_waiting = not waiting.done()
        release.set()
    outcome = await asyncio.wait_for(waiting, TIMEOUT)
    if not still_waiting or [r.key for r in outcome.replies] != ["quote/revenue"]:
        raise AssertionError(f"the stuck conversation was not held and then answered: {outcome}")
    return rate


async def run() -> list[Result]:
    turns = CONVERSATIONS * len(QUOTE_TURNS)
    async with temp_app() as app:
        await burst(app, 900_000, [])  # warm-up: the file and its WAL grow to their working size
        latencies: list[float] = []
        rates, stuck_rates = [], []
        for round_ in range(ROUNDS):  # interleaved, so drift hits both alike
            rates.append(turns / await burst(app, (round_ + 1) * 10_000, latencies))
            stuck_rates.append(await stuck_burst(app, (round_ + 1) * 100_000, turns))
        stats = Stats.of(latencies)
        ratio = statistics.median(stuck_rates) / statistics.median(rates)
    return [
        Result(
            "concurrency",
            f"turns per second, {CONVERSATIONS} conversations at once",
            statistics.median(rates),
            THROUGHPUT_TARGET,
            f"{spread(rates)}; one turn median {fmt(ms(stats.median))} ms, p95 {fmt(ms(stats.p95))} ms",
        ),
        Result(
            "concurrency",
            "throughput with one conversation stuck / without",
            ratio,
            STUCK_TARGET,
            f"{spread(stuck_rates)}; the stuck one answered once its send went through",
        ),
    ]
