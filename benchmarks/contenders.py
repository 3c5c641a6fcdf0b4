"""The bots the side-by-side benchmark runs, each behind the same small interface.

`Ours` is quotebot's Telegram channel on a real SQLite file (WAL, synchronous=FULL, as
shipped); `Baseline(form)` is the ConversationHandler bot of benchmarks/baseline.py. Both talk
to a `FakeBotApi` (the network taken out) and are fed parsed updates the way polling hands
them over. `starts[chat]` records when each update of a chat began to be handled, so the
benchmark can tell one update's own time from its time in the queue.
"""

from __future__ import annotations

import asyncio
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
from bot.channels.telegram import build_application
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
    name = "ours"

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.path = folder / "quotebot.db"

    async def prepare(self, stored: int) -> None:
        await build_ours(self.path, stored)

    async def open(self) -> None:
        self.app = await open_app(str(self.path), env={}, clock=FixedClock())
        self.application = build_application(self.app.engine, TOKEN, request=self.api)
        self.application.add_handler(TypeHandler(Update, self._started), group=-1)
        await self.application.initialize()
        await self.application.start()

    async def close(self) -> None:
        await self.application.stop()
        await self.application.shutdown()
        await self.app.close()


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
