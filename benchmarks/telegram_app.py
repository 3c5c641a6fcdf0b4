"""Text messages through the real Telegram channel and PTB's Bot, answered in-process.

The Bot, our channel (inbox, turns, outbox, the Telegram renderer) are the real ones; only the
HTTP layer is `tests.support.offline.OfflineRequest`, which answers each Bot API call from the
stub's in-memory world instead of a socket. So the figures include PTB's parsing of updates,
the inbox commit, our engine, the outbox rows, rendering and "sending" the replies, and the
stub's bookkeeping, but no network time.
Each chat types the quote conversation: /quote, 3億, 小売業, 楽天市場, 完了 (six replies).

Two ways in: one update after another, each taken and its turn run to the end (the latency of
one), and 200 chats' updates taken as one batch (three rounds), as one getUpdates answer is:
the started engine runs each chat's turns in its own task (concurrent across chats, in order
within one).

Between those rounds, as many where the sends to one more chat hang (Telegram or the network stuck
on that chat) and its user types on: the per-chat processor must keep the other chats going,
and that chat's answers must come, in order, once its sends go through.

TARGETS: >= 100 updates a second both ways; p95 of one update < 20 ms; with one
chat's sends stuck, the other chats keep >= 80% of the queued throughput.

Why: Telegram lets a bot send about 30 messages a second in all, and each of these updates
is answered with at least one, so 100 updates a second keeps us 3x faster than what Telegram
will take. Latency: of the ~300 ms a user tolerates, the internet takes 100-200 ms; one update's
whole handling at 20 ms leaves room for the few queued before it. A chat whose sends hang
must cost only that chat (DESIGN.md: a slow send must not stall every user); 80% allows for
run-to-run noise, a real stall shows as a time-out.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time

from telegram import Update

from benchmarks.common import QUOTE_TEXTS, Result, Stats, Target, fmt, ms, spread, temp_app
from bot.channels.telegram import TelegramChannel, make_bot, to_inbound
from tests.support.botapi_stub import BotApiStub
from tests.support.offline import OfflineRequest

SEQUENTIAL_TARGET = Target(">=", 100, "updates/s")
P95_TARGET = Target("<", 20.0, "ms")
QUEUED_TARGET = Target(">=", 100, "updates/s")
STALL_TARGET = Target(">=", 0.8, "x")

TOKEN = "123:ABC"
SEQUENTIAL_CHATS = 100
QUEUED_CHATS = 200
ROUNDS = 3
REPLIES_PER_CHAT = 6  # the result comes with the "what next" menu
TIMEOUT = 60.0


class StallingRequest(OfflineRequest):
    """Counts the messages sent; sends to `stalled_chat` hang until `release` is set (Telegram or
    the network stuck on one chat)."""

    def __init__(self, stub: BotApiStub):
        super().__init__(stub)
        self.stalled_chat: int | None = None
        self.release = asyncio.Event()
        self.sent = 0
        self._target, self._reached = 0, asyncio.Event()

    async def do_request(self, url, method, request_data=None, **timeouts):
        chat = request_data.parameters.get("chat_id") if request_data is not None else None
        if chat is not None and chat == self.stalled_chat:
            await self.release.wait()
        answer = await super().do_request(url, method, request_data, **timeouts)
        if method == "POST" and url.endswith("/sendMessage"):
            self.sent += 1
            if self.sent >= self._target:
                self._reached.set()
        return answer

    async def sent_at_least(self, count: int) -> None:
        self._target = count
        self._reached.clear()
        if self.sent < count:
            await asyncio.wait_for(self._reached.wait(), TIMEOUT)


def _check(stub: BotApiStub, chats: range) -> None:
    for chat in chats:
        sent = stub.sent(chat)
        if len(sent) != REPLIES_PER_CHAT or "お見積り Q-" not in (sent[-2].text or ""):
            raise AssertionError(f"chat {chat} got {[s.text[:20] for s in sent]}")


async def _queued_round(channel, stub: BotApiStub, first_chat: int, stalled: int | None = None) -> float:
    """Updates a second for QUEUED_CHATS chats' conversations taken in one batch.

    With `stalled`, that chat's conversation goes first and its first reply hangs (see
    StallingRequest), its user typing on regardless; the round ends when every other chat has
    all its replies.
    """
    chats = range(first_chat, first_chat + QUEUED_CHATS)
    texts = [(stalled, text) for text in QUOTE_TEXTS] if stalled is not None else []
    texts += [(chat, text) for text in QUOTE_TEXTS for chat in chats]
    # Polling parses each update before queueing it; so do we, before the clock starts.
    bot = channel.bot
    updates = [Update.de_json(stub.pending_update(stub.push_message(c, t)), bot) for c, t in texts]
    request: StallingRequest = bot.request
    expected = request.sent + QUEUED_CHATS * REPLIES_PER_CHAT
    begin = time.perf_counter()
    await channel.take(updates)
    await request.sent_at_least(expected)
    rate = len(chats) * len(QUOTE_TEXTS) / (time.perf_counter() - begin)  # the stalled chat's not counted
    _check(stub, chats)
    return rate


async def _stuck_round(channel, stub: BotApiStub, request: StallingRequest, first_chat: int) -> float:
    """A queued round while the sends to one more chat hang; that chat is answered afterwards."""
    stalled = request.stalled_chat = first_chat - 1
    request.release.clear()
    rate = await _queued_round(channel, stub, first_chat, stalled)
    if stub.sent(stalled):
        raise AssertionError("the stalled chat was answered while its sends were stuck")
    request.release.set()
    await asyncio.wait_for(channel.engine.settle(), TIMEOUT)
    _check(stub, range(stalled, stalled + 1))  # all its answers, in order
    return rate


async def run() -> list[Result]:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with BotApiStub(TOKEN) as stub:
        async with temp_app() as app:
            request = StallingRequest(stub)
            bot = make_bot(TOKEN, stub.base_url, request=request)
            channel = TelegramChannel(app.engine, bot, limits=False)  # the bot's cost, not Telegram's pace
            async with bot:

                async def one(data: dict) -> None:
                    update = Update.de_json(data, bot)
                    await channel.take([update])
                    await app.engine.settle([to_inbound(update).conversation])

                # warm-up, then one update after another
                for chat in range(900_000, 900_010):
                    for text in QUOTE_TEXTS:
                        await one(stub.pending_update(stub.push_message(chat, text)))
                chats = range(1_000, 1_000 + SEQUENTIAL_CHATS)
                # Telegram's side (the stub queueing what users typed) is done before the clock starts.
                pending = [stub.pending_update(stub.push_message(c, t)) for c in chats for t in QUOTE_TEXTS]
                latencies: list[float] = []
                clock = time.perf_counter
                begin = clock()
                for data in pending:
                    start = clock()
                    await one(data)
                    latencies.append(clock() - start)
                sequential = len(latencies) / (clock() - begin)
                _check(stub, chats)

                # 200 chats at once, as one batch, the engine running (a task per chat)
                await app.start()
                queued, stuck = [], []
                for r in range(ROUNDS):  # interleaved, so drift hits both alike
                    queued.append(await _queued_round(channel, stub, 10_000 + r * 1_000))
                    stuck.append(await _stuck_round(channel, stub, request, 20_000 + r * 1_000))
    stats = Stats.of(latencies)
    detail = f"{len(latencies)} updates from {SEQUENTIAL_CHATS} chats; median {fmt(ms(stats.median))} ms"
    return [
        Result(
            "telegram", "updates/s, one by one (taken, turn, sent)", sequential, SEQUENTIAL_TARGET, detail
        ),
        Result("telegram", "p95 of one update (taken, turn, sent)", ms(stats.p95), P95_TARGET, detail),
        Result(
            "telegram",
            f"updates/s, {QUEUED_CHATS} chats in one batch",
            statistics.median(queued),
            QUEUED_TARGET,
            f"{spread(queued)}, {QUEUED_CHATS * len(QUOTE_TEXTS)} updates each",
        ),
        Result(
            "telegram",
            "queued updates/s with one chat's send stuck / without",
            statistics.median(stuck) / statistics.median(queued),
            STALL_TARGET,
            f"{spread(stuck)}; the stuck chat answered in order once its send went through",
        ),
    ]
