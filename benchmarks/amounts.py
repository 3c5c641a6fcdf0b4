"""`parse_yen`: how long reading one typed revenue takes, on what merchants really type.

TARGETS: median < 50 µs and p95 < 100 µs a call over a realistic mix (valid and invalid), and
< 1 ms for the slowest hostile input (100 characters, the most `parse_yen` reads).

Why: parsing runs on the event loop that every conversation shares, once per typed amount. A
turn's whole budget is 10 ms (see engine.py), so parsing should be under 1% of it; and since a
user can type anything, the worst input must stay bounded too (10% of a turn at most).
"""

from __future__ import annotations

import statistics

from benchmarks.common import Result, Stats, Target, fmt, time_each, us
from rates.amounts import MAX_INPUT_CHARS, AmountError, parse_yen

MEDIAN_TARGET = Target("<", 50, "µs")
P95_TARGET = Target("<", 100, "µs")
WORST_TARGET = Target("<", 1000, "µs")

# As people type revenue into a chat: mostly valid, some mistakes, a few jokes.
REALISTIC = (
    "3億",
    "３億円",
    "1億2,345万円",
    "300,000,000",
    "約300万円くらい",
    "1.2 billion yen",
    "三千五百万円",
    "¥120,000,000",
    "1億5千万",
    "２０億円です",
    "12億3456万7890円",
    "about 300 million",
    "5000万",
    "３００，０００，０００円",
    "3億円程度です。",
    "1億2,345万円くらい",
    "80,000,000円",
    "二億円",
    "100 m",
    "5k",
    # invalid: each is answered with a reprompt naming the problem
    "abc",
    "-3億",
    "1億5",
    "9999兆",
    "🙂",
    "3億<script>",
    "0.5円",
    "1,2345",
    "",
    "x" * 5000,
)

# The longest text parse_yen reads, shaped to keep it busy (every character a token).
HOSTILE = tuple(
    (s * MAX_INPUT_CHARS)[:MAX_INPUT_CHARS]
    for s in ("1億", "千", "1千", "約", "円", "十", "1 ", "１", "一", "ｶﾞ", "1千2百", "一億二千三百四十五万")
)


def _parse(text: str) -> None:
    try:  # noqa: SIM105 - contextlib.suppress would add its own cost to every timed call
        parse_yen(text)
    except AmountError:
        pass


async def run() -> list[Result]:
    stats = Stats.of(time_each(_parse, list(REALISTIC), warmup=20, repeats=200))
    worst, worst_text = 0.0, ""
    for text in HOSTILE:
        median = statistics.median(time_each(_parse, [text], warmup=5, repeats=50))
        if median > worst:
            worst, worst_text = median, text
    detail = f"{len(REALISTIC)} inputs x 200, mean {fmt(us(stats.mean))} µs"
    return [
        Result("parse_yen", "median per call (realistic mix)", us(stats.median), MEDIAN_TARGET, detail),
        Result("parse_yen", "p95 per call (realistic mix)", us(stats.p95), P95_TARGET, detail),
        Result(
            "parse_yen",
            "slowest hostile 100-char input (median)",
            us(worst),
            WORST_TARGET,
            f"{len(HOSTILE)} inputs; slowest {worst_text[:6]!r}...",
        ),
    ]
