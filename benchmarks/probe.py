"""One bot in a process of its own, for benchmarks/footprint.py: start it, time updates, report.

    python -m benchmarks.probe BOT FILE STORED

BOT is "ours" or a baseline form; FILE its database or pickle, already holding STORED
conversations (chats FIRST_CHAT..). Prints "ready" once the bot is open and has answered one
update (the parent times start-up from launching the process to that line), then times
returning chats' quote dialogs one after another and prints one JSON line: the median and p95
seconds of one update, the updates timed, the time one full re-pickle of the baseline's state
takes (what each durable form pays at least once per update), and the peak RSS in MiB.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common import QUOTE_TURNS, percentile
from benchmarks.contenders import FIRST_CHAT, Baseline, Ours

BUDGET = 6.0  # seconds of timed updates at most
MAX_CONVERSATIONS = 30
MESSAGES = (1, 1, 1, 1, 2)


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM). Not getrusage's ru_maxrss: Linux carries that across
    exec, so a child of a big parent would report the parent's peak."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def probe(name: str, path: Path, stored: int) -> dict:
    bot = Ours(path.parent) if name == "ours" else Baseline(path.parent, name)
    bot.path = path
    await bot.open()
    try:
        rng = random.Random(stored)
        first = FIRST_CHAT + rng.randrange(stored)
        bot.feed(bot.updates([(first, "text", "/quote")]))
        await bot.api.wait_chat(first, 1, 600)
        print("ready", flush=True)
        latencies: list[float] = []
        begin = time.perf_counter()
        chats = rng.sample(range(stored), min(stored, MAX_CONVERSATIONS))
        for n in chats:
            chat = FIRST_CHAT + n
            updates = bot.updates([(chat, kind, text) for kind, text in QUOTE_TURNS])
            owed = len(bot.api.sent[chat])
            for update, messages in zip(updates, MESSAGES, strict=True):
                start = time.perf_counter()
                owed += messages
                bot.feed([update])
                await bot.api.wait_chat(chat, owed, 600)
                latencies.append(time.perf_counter() - start)
            if time.perf_counter() - begin > BUDGET:
                break
        repickle = None
        if name != "ours":
            persistence = bot.application.persistence
            start = time.perf_counter()
            persistence._dump_singlefile()
            repickle = time.perf_counter() - start
    finally:
        await bot.close()
    return {
        "median": statistics.median(latencies),
        "p95": percentile(latencies, 95),
        "updates": len(latencies),
        "repickle": repickle,
        "rss_mib": peak_rss_mib(),
    }


def main() -> None:
    name, path, stored = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(asyncio.run(probe(name, path, stored))), flush=True)


if __name__ == "__main__":
    main()
