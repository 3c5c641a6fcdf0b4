"""The bots the side-by-side benchmark runs, each behind the same small interface.

`Ours` is quotebot's Telegram channel on a real SQLite file (WAL, synchronous=FULL, as
shipped); `Baseline(form)` is the ConversationHandler bot of benchmarks/baseline.py. Both talk
to a `FakeBotApi` (the network taken out) and are fed parsed updates the way polling hands
them over. `starts[chat]` records when each update of a chat began to be handled, so the
benchmark can tell one update's own time from its time in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections import defaultdict
from pathlib import Path

from telegram import Update
from telegram.ext import TypeHandler

from benchmarks.baseline import FORMS, build_baseline, prefill
from benchmarks.botapi import FakeBotApi, parsed, update_of
from benchmarks.common import NOW, QUOTE_TURNS, FixedClock
from benchmarks.scale import Filler
from bot.app import open_app
from bot.channels.telegram import TelegramChannel, make_bot
from bot.texts import Texts
from rates.pricing import QuoteRequest, quote
from rates.tables import load_rates

TOKEN = "123:ABC"
FIRST_CHAT = 10_000_000  # stored conversations are chats FIRST_CHAT.. (Filler.key(n) for ours)
SAMPLE_CHAT = 1
LABELS = {
    "ours": "quotebot",
    "default": "PTB default",
    "pickle": "PTB pickle/update",
    "fsync": "PTB fsync/update",
}


def sample_quote() -> dict:
    """The quote every stored conversation of the baseline keeps (3億, retail, Rakuten)."""
    request = QuoteRequest(300_000_000, "retail", frozenset({"rakuten"}), NOW.date())
    return quote(load_rates(), request).to_json()


class Contender:
    name = ""

    def __init__(self, folder: Path):
        self.folder = folder
        self.api = FakeBotApi()
        self.starts: dict[int, list[float]] = defaultdict(list)

    @property
    def label(self) -> str:
        return LABELS[self.name]

    async def _started(self, update: Update, context) -> None:
        chat = update.effective_chat
        if chat is not None:
            self.starts[chat.id].append(time.perf_counter())

    def reset(self) -> None:
        """Forget what was sent and when (a round starts)."""
        self.api.sent.clear()
        self.api.answered.clear()
        self.starts.clear()

    def updates(self, script: list[tuple[int, str, str]]) -> list[Update]:
        """(chat, kind, text) as parsed updates, before any clock starts (polling parses too)."""
        return parsed([update_of(kind, chat, text) for chat, kind, text in script], self.bot)

    async def prepare(self, stored: int) -> None:
        raise NotImplementedError

    async def open(self) -> None:
        raise NotImplementedError

    def feed(self, updates: list[Update]) -> None:
        """Hand updates over as polling does: onto the Application's update queue."""
        for update in updates:
            self.application.update_queue.put_nowait(update)

    async def idle(self, timeout: float) -> None:
        """Until everything fed has been handled."""
        await asyncio.wait_for(self.application.update_queue.join(), timeout)

    async def drop_queued(self, timeout: float) -> None:
        """Forget the updates not yet begun (a round cut short), then finish the one under way."""
        queue = self.application.update_queue
        while not queue.empty():
            queue.get_nowait()
            queue.task_done()
        await self.idle(timeout)

    def done_updates(self, messages: tuple[int, ...]) -> int:
        """How many updates have all their replies (each chat's n-th update owes messages[n % len])."""
        done = 0
        for chat, sent in self.api.sent.items():
            owed, count = 0, 0
            for n in range(len(self.starts.get(chat, ()))):
                owed += messages[n % len(messages)]
                if len(sent) < owed:
                    break
                count += 1
            done += count
        return done

    @property
    def bot(self):
        return self.application.bot

    async def close(self) -> None:
        raise NotImplementedError


class Ours(Contender):
    """quotebot as `quotebot telegram` runs it: the channel's `take` commits each batch of
    updates to the inbox (as its poller does, one batch of at most 100 after another), the
    engine's inbox runner runs the turns, the outbox sends."""

    name = "ours"
    BATCH = 100  # getUpdates returns at most 100 updates

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.path = folder / "quotebot.db"
        self._batches: asyncio.Queue[list[Update]] = asyncio.Queue()
        self._pending: dict[str, float] = {}

    async def prepare(self, stored: int) -> None:
        await build_ours(self.path, stored)

    async def open(self) -> None:
        self.app = await open_app(str(self.path), env={}, clock=FixedClock())
        self._bot = make_bot(TOKEN, request=self.api)
        await self._bot.initialize()
        # Without Telegram's pace (30 messages a second): the baselines have none either, and
        # what is compared is each bot's own cost per update (the clock is frozen, too).
        self.channel = TelegramChannel(self.app.engine, self._bot, limits=False)
        self._watch(self.app.engine)
        await self.app.start()
        self._poller = asyncio.create_task(self._poll(), name="bench poller")

    def _watch(self, engine) -> None:
        """starts[chat]: when the inbox runner began each turn, once it had one of the engine's
        slots for turns in flight (as a PTB handler starts once it has one of PTB's); waiting
        for the store and for the turns ahead in the group included."""
        step, turn = engine._take_turn, engine._turn

        async def timed_step(key):
            self._pending[key.id] = time.perf_counter()
            return await step(key)

        async def timed_turn(tx, inbound, *args):
            chat = inbound.conversation.id
            self.starts[int(chat)].append(self._pending.pop(chat, time.perf_counter()))
            return await turn(tx, inbound, *args)

        engine._take_turn, engine._turn = timed_step, timed_turn

    async def _poll(self) -> None:
        while True:
            batch = await self._batches.get()
            try:
                await self.channel.take(batch)
            finally:
                self._batches.task_done()

    @property
    def bot(self):
        return self._bot

    def updates(self, script: list[tuple[int, str, str]]) -> list[Update]:
        """As the base class, with each multi-select tap on the keyboard version the chat will
        show then: the version lives in the stored state (a returning chat's is not 0) and grows
        by one with each tick and each close (bot/turn.py), so a backlog's taps are worked out
        from the file before the clock starts, as the merchant's screen would show them."""
        versions = self._keyboard_versions({chat for chat, _, _ in script})
        shown = []
        for chat, kind, text in script:
            if kind == "tap" and ".v" in text:
                key = str(chat)
                version = versions.get(key, 0)
                text = f"{text.rpartition('.v')[0]}.v{version}"
                versions[key] = version + 1
            shown.append((chat, kind, text))
        return super().updates(shown)

    def _keyboard_versions(self, chats: set[int]) -> dict[str, int]:
        """These stored Telegram chats' keyboard versions (read-only; the bot may be running).
        Only theirs: reading every conversation's state (1M of them in `footprint`) cost the
        probe ~190 MiB of RSS and its page cache, and was counted as the bot's."""
        if not self.path.exists():
            return {}
        keys = json.dumps([f"telegram:{chat}" for chat in sorted(chats)])
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as db:
            rows = db.execute(
                "SELECT substr(key, 10), json_extract(state, '$.keyboard') FROM conversations"
                " WHERE key IN (SELECT value FROM json_each(?))",
                (keys,),
            ).fetchall()
        return {chat: version or 0 for chat, version in rows}

    def feed(self, updates: list[Update]) -> None:
        for n in range(0, len(updates), self.BATCH):
            self._batches.put_nowait(updates[n : n + self.BATCH])

    async def idle(self, timeout: float) -> None:
        async def quiet() -> None:
            await self._batches.join()
            while self.app.engine._running:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(quiet(), timeout)

    async def drop_queued(self, timeout: float) -> None:
        """Batches not yet taken are forgotten; what is in the inbox is run (it was received)."""
        while not self._batches.empty():
            self._batches.get_nowait()
            self._batches.task_done()
        await self.idle(timeout)

    async def close(self) -> None:
        self._poller.cancel()
        await asyncio.gather(self._poller, return_exceptions=True)
        await self.app.close()
        await self._bot.shutdown()


class Baseline(Contender):
    def __init__(self, folder: Path, form: str):
        super().__init__(folder)
        if form not in FORMS:
            raise ValueError(form)
        self.name = form
        self.path = folder / f"baseline-{form}.pickle"

    async def prepare(self, stored: int) -> None:
        prefill(self.path, stored, sample_quote(), FIRST_CHAT)

    async def open(self) -> None:
        self.application = build_baseline(self.name, self.path, Texts(), load_rates(), FixedClock(), self.api)
        self.application.add_handler(TypeHandler(Update, self._started), group=-1)
        await self.application.initialize()
        await self.application.start()

    async def close(self) -> None:
        await self.application.stop()
        await self.application.shutdown()


def all_contenders(folder: Path) -> list[Contender]:
    return [Ours(folder), *(Baseline(folder, form) for form in FORMS)]


async def build_ours(path: Path, stored: int) -> None:
    """A quotebot file with `stored` finished quote conversations: one real one through the
    Telegram channel, copied in bulk by `benchmarks.scale.Filler` (keys telegram:FIRST_CHAT+n)."""
    contender = Ours(path.parent)
    contender.path = path
    await contender.open()
    try:
        contender.feed(contender.updates([(SAMPLE_CHAT, kind, text) for kind, text in QUOTE_TURNS]))
        await contender.api.wait_chat(SAMPLE_CHAT, 6, 30.0)
        await contender.idle(30.0)
    finally:
        await contender.close()
    filler = Filler(path)
    filler.read_sample()
    filler.fill_to(stored)
