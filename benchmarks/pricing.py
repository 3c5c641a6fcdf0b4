"""A quote's CPU work: `quote()` from the rate tables, `to_json()`, and rendering quote/result in ja.

TARGETS: median < 1 ms and p95 < 2 ms per quote (price + JSON + render), over a mix of merchants.

Why: this is the heaviest pure work of any turn (the "done" tap) and it runs on the event loop
every conversation shares. At 10% of the 10 ms turn budget (engine.py) it leaves the rest for
the database and the other conversations.
"""

from __future__ import annotations

import time
from datetime import date

from benchmarks.common import Result, Stats, Target, fmt, ms, us
from bot.texts import Texts
from rates.pricing import QuoteRequest, quote
from rates.tables import load_rates

MEDIAN_TARGET = Target("<", 1.0, "ms")
P95_TARGET = Target("<", 2.0, "ms")

TODAY = date(2026, 11, 22)
# Who asks: a Rakuten shop, small and large web shops, a care home, a wholesaler, a public body
# (declined), a manufacturer above every ceiling (referred), several channels at once.
MERCHANTS = (
    (300_000_000, "retail", {"rakuten"}),
    (300_000_000, "retail", {"rakuten", "own_ec", "other_mall"}),
    (50_000_000, "it_services", {"own_ec", "b2b"}),
    (1_000_000_000, "care_welfare", {"physical_store"}),
    (2_000_000_000, "wholesale", {"b2b", "other_mall"}),
    (10_000_000_000, "manufacturing", {"b2b"}),
    (300_000_000, "public_body", {"other"}),
    (120_000_000, "food_service", {"physical_store", "events"}),
    (8_000_000, "retail", {"rakuten", "physical_store"}),
    (450_000_000, "services", {"own_ec"}),
)


async def run() -> list[Result]:
    book, texts = load_rates(), Texts()
    requests = [QuoteRequest(r, i, frozenset(c), TODAY) for r, i, c in MERCHANTS]
    clock = time.perf_counter
    for request in requests * 20:  # warm-up: jinja2 compiles and caches the template
        texts.render("ja", "quote/result", q=quote(book, request).to_json(), ref="Q-20261122-0001")
    totals, pricing, rendering = [], [], []
    for _ in range(100):
        for request in requests:
            start = clock()
            result = quote(book, request).to_json()
            priced = clock()
            texts.render("ja", "quote/result", q=result, ref="Q-20261122-0001")
            done = clock()
            totals.append(done - start)
            pricing.append(priced - start)
            rendering.append(done - priced)
    stats = Stats.of(totals)
    detail = (
        f"{len(requests)} merchants x 100; median quote()+to_json() {fmt(us(Stats.of(pricing).median))} µs,"
        f" render {fmt(us(Stats.of(rendering).median))} µs"
    )
    return [
        Result("pricing", "median per quote (price+json+render ja)", ms(stats.median), MEDIAN_TARGET, detail),
        Result("pricing", "p95 per quote", ms(stats.p95), P95_TARGET, detail),
    ]
