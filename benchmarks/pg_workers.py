"""Turns a second and p99 turn latency: 1, 2 and 4 `quotebot serve` workers on one PostgreSQL,
and one on SQLite, in one run.

Real processes over loopback, nothing in-process: each setup starts its workers with
tests/support/serve_cluster.py (Telegram webhooks, one Bot API stub playing Telegram for all)
on a fresh database (PostgreSQL: a new database on the benchmarks' server, benchmarks/pgserver.py,
durable settings; SQLite: a new file, WAL + synchronous=FULL as shipped). Then 100 chats at once
each type the quote conversation (/quote, 3億, 小売業, 楽天市場, 完了): every update is POSTed to
a worker's /webhooks/telegram as Telegram posts it (round robin over the workers, as the compose
profile's proxy does), and the chat's next update goes once the turn's answer has reached the
stub. Turn latency = the POST sent -> the turn's last message arriving at the stub (sendMessage
or editMessageText, as PTB in the worker called it). Turns a second = all turns / from the
first POST to the last answer.

Telegram's rate limits are off in the workers (TELEGRAM_RATE_LIMITS=off): with them on, as in
production, the bot sends at most 30 messages a second in all (~25 of these turns); what is
measured is how far the bot itself would go.

PostgreSQL runs each setup twice: with the default settle window (QUOTEBOT_SETTLE_MS=300: a
Telegram update waits that long for a late earlier one) and with none (0), which shows the
store's own cost apart from the window's.

Each row also says where the CPU went during the round (the workers, the PostgreSQL server, this
process with the stub, and everything else on the machine), since the machine has 2 cores
shared with other sessions: that, not the bot, is often what limits the figures.

TARGETS (default settings): >= 100 turns/s with any number of workers; p99 turn latency <
100 ms + the settle window. Why: 100 a second is the floor for anything on a turn's path
(README: 3x what Telegram lets a bot send); of the ~300 ms a user tolerates, ~100 ms is ours
(README), and the settle window is a wait the operator chose on top of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path

from benchmarks.common import QUOTE_TEXTS, Result, Target, bench_dir, fmt, info, ms, percentile
from benchmarks.pgserver import BenchServer
from tests.support.botapi_stub import BotApiStub
from tests.support.serve_cluster import SECRET, TOKEN, ServeCluster, fresh_database

AREA_TIMEOUT = 1200.0
CHATS = 100  # at once, each turn straight after the last answer: how many turns a second
PACED_CHATS = 20  # at once, each pausing THINK_SECONDS before its next turn: a turn's latency
THINK_SECONDS = 1.0  # (people take longer; this keeps the offered load at ~15 turns/s)
WARMUP_CHATS = 8
TURN_MESSAGES = (1, 1, 1, 1, 2)  # what each typed turn answers (the last: the quote, "what next")
MESSAGE_METHODS = frozenset({"sendmessage", "editmessagetext"})
TURN_TIMEOUT = 120.0
THROUGHPUT_TARGET = Target(">=", 100, "turns/s")
OUR_LATENCY_MS = 100.0


@dataclass(frozen=True)
class Setup:
    backend: str  # "sqlite" | "postgresql"
    workers: int
    settle_ms: int = 300

    @property
    def label(self) -> str:
        workers = f"{self.workers} worker{'s' if self.workers > 1 else ''}"
        if self.backend == "sqlite":
            return f"SQLite, {workers}"
        return f"PostgreSQL, {workers}, settle {self.settle_ms} ms"

    @property
    def targeted(self) -> bool:
        return self.backend == "sqlite" or self.settle_ms == 300  # the defaults an operator runs


SETUPS = (
    Setup("sqlite", 1),
    *(Setup("postgresql", n) for n in (1, 2, 4)),
    *(Setup("postgresql", n, settle_ms=0) for n in (1, 2, 4)),
)


class ArrivalStub(BotApiStub):
    """The Bot API stub, also noting when each message to a chat arrived (perf_counter, in the
    stub's handler thread, as the worker's call comes in) and waking whoever waits for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        # socketserver listens with a backlog of 5: PTB in the workers opens up to 256
        # connections, the kernel drops the surplus connects, and those calls arrive a second
        # late (the SYN sent again) or fail after PTB's 5 s connect timeout: the paced p99 was
        # 1.1 s from that alone. Telegram takes them at once; this stub listens with 1024.
        # (Raising it in tests/support/botapi_stub.py for every test is left to its owners: the
        # multi-worker test then failed in 3 of 4 whole-suite runs here, passing alone.)
        default = ThreadingHTTPServer.request_queue_size
        ThreadingHTTPServer.request_queue_size = 1024
        try:
            super().__init__(TOKEN, webhook_delivery=False)
        finally:
            ThreadingHTTPServer.request_queue_size = default
        self.loop = loop
        self.arrivals: dict[int, list[float]] = defaultdict(list)
        self._waiting: dict[int, tuple[int, asyncio.Future]] = {}

    def _record(self, method, params, files, **fields):  # every call the stub answers comes here
        call = super()._record(method, params, files, **fields)
        if method.lower() in MESSAGE_METHODS and "chat_id" in params:
            self.loop.call_soon_threadsafe(self._arrived, int(params["chat_id"]), time.perf_counter())
        return call

    def _arrived(self, chat: int, at: float) -> None:
        self.arrivals[chat].append(at)
        count, future = self._waiting.get(chat, (0, None))
        if future is not None and len(self.arrivals[chat]) >= count and not future.done():
            future.set_result(None)

    async def nth_arrival(self, chat: int, n: int, timeout: float = TURN_TIMEOUT) -> float:
        """When the n-th message (1-based) to `chat` arrived; waits for it."""
        if len(self.arrivals[chat]) < n:
            future = self.loop.create_future()
            self._waiting[chat] = (n, future)
            try:
                await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise AssertionError(f"chat {chat}: {len(self.arrivals[chat])} of {n} messages") from None
            finally:
                self._waiting.pop(chat, None)
        return self.arrivals[chat][n - 1]


@dataclass
class Round:
    turns: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)  # POST -> the webhook's 200
    cpu: dict[str, float] = field(default_factory=dict)  # share of one core during the round
    drops: int = 0  # connections the kernel dropped meanwhile (a full listen queue: +1 s each)

    @property
    def rate(self) -> float:
        return self.turns / self.seconds


async def chats_type_the_quote(stub: ArrivalStub, urls: list[str], chats: range, think: float = 0.0) -> Round:
    """Every chat in `chats` at once types QUOTE_TEXTS, one turn after the other, `think`
    seconds after the last answer (0: at once); the round's figures. Each POST goes to the
    next worker in turn (round robin)."""
    import aiohttp

    result = Round()
    workers = itertools.cycle(urls)
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def chat(number: int) -> float:
            owed = len(stub.arrivals[number])
            arrived = 0.0
            for turn, (text, messages) in enumerate(zip(QUOTE_TEXTS, TURN_MESSAGES, strict=True)):
                if think and turn:
                    await asyncio.sleep(think)
                update = stub.pending_update(stub.push_message(number, text))
                url = next(workers) + "/webhooks/telegram"
                start = time.perf_counter()
                async with http.post(url, data=json.dumps(update, ensure_ascii=False), headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        raise AssertionError(f"{url} answered {r.status} to chat {number}")
                result.answered.append(time.perf_counter() - start)
                owed += messages
                arrived = await stub.nth_arrival(number, owed)
                result.latencies.append(arrived - start)
            return arrived

        begin = time.perf_counter()
        last = max(await asyncio.gather(*(chat(n) for n in chats)))
    result.seconds = last - begin
    result.turns = len(chats) * len(QUOTE_TEXTS)
    return result


def check(stub: BotApiStub, chats: range) -> None:
    """Every chat got its six messages, the quote (with its reference) among them."""
    for number in chats:
        sent = stub.sent(number)
        if len(sent) != sum(TURN_MESSAGES) or "お見積り Q-" not in (sent[-2].text or ""):
            raise AssertionError(f"chat {number} got {[(s.text or '')[:20] for s in sent]}")


# -- where the CPU went -----------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        return f.read().rsplit(")", 1)[1].split()  # fields after "(comm)": state is [0]


def cpu_seconds(pid: int) -> float:
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int(_stat(int(entry))[1]) == parent:
                    found.append(int(entry))
    return found


def listen_drops() -> int:
    """Connections the kernel dropped because a server's listen queue was full (all of this
    machine): a full queue costs a caller a second (the SYN is sent again), so any shows."""
    try:
        with open("/proc/net/netstat", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=True)).get("ListenDrops", 0))
    return 0


def machine_busy_seconds() -> float:
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / TICK


class CpuMeter:
    """CPU seconds of the workers, the PostgreSQL server (its processes), this process (the
    driver and the stub's threads) and the whole machine, between `start` and `stop`."""

    def __init__(self, workers: list[int], postmaster: int | None):
        self.workers, self.postmaster = workers, postmaster

    def _read(self) -> dict[str, float]:
        server = [self.postmaster, *children(self.postmaster)] if self.postmaster else []
        times = os.times()
        return {
            "workers": sum(cpu_seconds(p) for p in self.workers),
            "postgres": sum(cpu_seconds(p) for p in server),
            "driver": times.user + times.system,
            "machine": machine_busy_seconds(),
            "drops": listen_drops(),
        }

    def start(self) -> None:
        self.begin, self.at = self._read(), time.perf_counter()

    def stop(self) -> dict[str, float]:
        end, wall = self._read(), time.perf_counter() - self.at
        self.drops = end.pop("drops") - self.begin.pop("drops")
        used = {k: (end[k] - self.begin[k]) / wall for k in end}
        used["others"] = max(0.0, used.pop("machine") - used["workers"] - used["postgres"] - used["driver"])
        return used


def cpu_text(result: Round) -> str:
    shown = {k: v for k, v in result.cpu.items() if k != "postgres" or v > 0}
    text = "CPU " + ", ".join(f"{k} {v * 100:.0f}%" for k, v in shown.items()) + f" of {os.cpu_count()}00%"
    return text + (f"; {result.drops} connections dropped (listen queue full)" if result.drops else "")


# -- one setup ----------------------------------------------------------------------------------


async def _entered(stack: contextlib.AsyncExitStack, manager):
    """Enter a blocking context manager (they wait for processes, or run their own event loop)
    in a thread, and leave it the same way when the stack closes."""
    value = await asyncio.to_thread(manager.__enter__)
    stack.push_async_callback(asyncio.to_thread, manager.__exit__, None, None, None)
    return value


@dataclass
class Measured:
    saturated: Round  # CHATS at once, no pause: turns a second
    paced: Round  # PACED_CHATS typing as people do: the latency of a turn


async def measure(
    setup: Setup,
    server: BenchServer | None,
    chats: int = CHATS,
    paced: int = PACED_CHATS,
    warmup: int = WARMUP_CHATS,
    think: float = THINK_SECONDS,
) -> Measured:
    """Start the setup's workers on a fresh database, warm them up, run both rounds; stop them."""
    async with contextlib.AsyncExitStack() as stack:
        workdir = Path(
            await _entered(stack, tempfile.TemporaryDirectory(prefix="quotebot-bench-", dir=bench_dir()))
        )
        if setup.backend == "sqlite":
            db = str(workdir / "quotebot.db")
        else:
            assert server is not None
            db = await _entered(stack, fresh_database(server.url("postgres")))
        stub = await _entered(stack, ArrivalStub(asyncio.get_running_loop()))
        # Telegram's limits off (as for every benchmark against a stub): with them the bot sends
        # at most 30 messages a second in all, ~25 of these turns, whatever it could do.
        env = {"QUOTEBOT_SETTLE_MS": str(setup.settle_ms), "TELEGRAM_RATE_LIMITS": "off"}
        cluster = await _entered(
            stack, ServeCluster(stub, db, workdir / "logs", workers=setup.workers, **env)
        )
        urls = [w.url for w in cluster.workers]
        await chats_type_the_quote(stub, urls, range(1, warmup + 1))  # templates, caches, connections
        postmaster = server.postmaster() if server is not None and setup.backend == "postgresql" else None
        meter = CpuMeter([w.process.pid for w in cluster.workers], postmaster)
        rounds = []
        for first, count, pause in ((1_000, chats, 0.0), (5_000, paced, think)):
            meter.start()
            rounds.append(await chats_type_the_quote(stub, urls, range(first, first + count), pause))
            rounds[-1].cpu = meter.stop()
            rounds[-1].drops = meter.drops
            check(stub, range(first, first + count))
        return Measured(*rounds)


def _figures(rounds: list[Round]) -> str:
    latencies = sorted(rounds, key=lambda r: percentile(r.latencies, 99))[0].latencies
    return f"median {fmt(ms(statistics.median(latencies)))} ms, p99 {fmt(ms(percentile(latencies, 99)))} ms"


def _results(setup: Setup, passes: list[Measured]) -> list[Result]:
    """The better pass of each round: the machine is shared, and a pass another session crowded
    out says more about that session than about the setup (every pass is in the detail)."""
    saturated = sorted((m.saturated for m in passes), key=lambda r: r.rate, reverse=True)
    paced = sorted((m.paced for m in passes), key=lambda r: percentile(r.latencies, 99))
    rates = " · ".join(fmt(r.rate) for r in saturated)
    p99s = " · ".join(fmt(ms(percentile(r.latencies, 99))) for r in paced)
    rate_detail = (
        f"{CHATS} chats at once, {saturated[0].turns} turns (passes {rates});"
        f" {_figures(saturated[:1])}; {cpu_text(saturated[0])}"
    )
    latency_detail = (
        f"{PACED_CHATS} chats pausing {THINK_SECONDS:g} s (passes {p99s}); {_figures(paced[:1])},"
        f" webhook answered p99 {fmt(ms(percentile(paced[0].answered, 99)))} ms; {cpu_text(paced[0])}"
    )
    window = setup.settle_ms if setup.backend == "postgresql" else 0
    latency_target = Target("<", OUR_LATENCY_MS + window, "ms") if setup.targeted else info("ms")
    rate_target = THROUGHPUT_TARGET if setup.targeted else info("turns/s")
    p99 = ms(percentile(paced[0].latencies, 99))
    return [
        Result("pg_workers", f"turns/s, {setup.label}", saturated[0].rate, rate_target, rate_detail),
        Result("pg_workers", f"p99 turn latency, {setup.label}", p99, latency_target, latency_detail),
    ]


async def run() -> list[Result]:
    passes: dict[Setup, list[Measured]] = defaultdict(list)
    with BenchServer() as server:
        for order in (SETUPS, tuple(reversed(SETUPS))):  # the machine's drift hits every setup alike
            for setup in order:
                pg = server if setup.backend == "postgresql" else None
                passes[setup].append(await measure(setup, pg))
    results = [result for setup in SETUPS for result in _results(setup, passes[setup])]
    for settle in (300, 0):
        best = {n: max(m.saturated.rate for m in passes[Setup("postgresql", n, settle)]) for n in (1, 4)}
        ratio = best[4] / best[1]
        results.append(Result("pg_workers", f"turns/s 4 workers / 1, settle {settle} ms", ratio, info("x")))
    return results
