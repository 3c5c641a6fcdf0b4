"""The composition root: settings, start-up checks, store, engine, outbox worker, scheduled jobs.

Every way of running the bot (`quotebot chat`, `quotebot telegram`, `quotebot serve`) builds the
same `App`, lets its channels register their senders, and runs until stopped:

    app = await open_app(db, env=os.environ)          # checks data, opens and migrates the store
    channel = SomeChannel(app.engine, ...)             # registers its senders on app.engine.outbox
    await app.run_until_stopped(channel.poll)          # or app.start() ... await app.close()

Scheduled work needs no timer of its own: reminders and the no-answer notice are outbox rows
with a not-before time, sent by the outbox worker when due; retention runs at start and daily.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path

from bot.context import StaffSettings
from bot.engine import Engine
from bot.messages import Key
from bot.outbox import Sender, SlidingWindow
from bot.settings import DEFAULT_DB, ConfigError, Settings
from bot.store import Store, open_store, purge_in_batches
from bot.texts import Texts
from dialogs import all_dialogs
from rates.coverage import JST
from rates.tables import load_rates

__all__ = ["DEFAULT_DB", "App", "ConfigError", "configure_logging", "now_jst", "open_app"]

log = logging.getLogger(__name__)
PURGE_EVERY = 24 * 3600.0
PURGE_PACE = 1.0  # the daily purge waits as long as each batch took before the next (see purge_in_batches)


def now_jst() -> datetime:
    return datetime.now(JST)


class App:
    def __init__(self, settings: Settings, store: Store, engine: Engine):
        self.settings, self.store, self.engine = settings, store, engine
        self.outbox = engine.outbox
        self._tasks: list[asyncio.Task] = []
        self._closed = False

    def register(self, route: str, sender: Sender, limit: Callable[[], SlidingWindow] | None = None) -> None:
        """A channel's sender for its route (its name; "staff" for the staff desk)."""
        self.outbox.register(route, sender, limit)

    @property
    def exports(self) -> Path:
        """Where the console saves files (next to a SQLite database, else ./data/exports)."""
        db = self.settings.db
        folder = Path(db).resolve().parent if "://" not in db and db != ":memory:" else Path("data")
        return folder / "exports"

    async def start(self) -> None:
        """Start the background work: the inbox runner, the outbox worker, retention."""
        if self._tasks:
            return
        listen = getattr(self.store, "listen", None)
        if listen is not None:  # PostgreSQL: another worker's commit wakes this one's runners
            try:
                await listen(self._woken)
            except Exception:
                log.exception("LISTEN failed; falling back to the workers' own sweeps")
        self._tasks = [
            asyncio.create_task(self.engine.run(), name="inbox"),
            asyncio.create_task(self.outbox.run(), name="outbox"),
            asyncio.create_task(self._purge_daily(), name="purge"),
        ]

    def _woken(self, what: str) -> None:
        what, _, conversation = what.partition(" ")
        if what == "outbox":
            self.outbox.wake.set()
        elif what == "inbox" and conversation:
            self.engine.wake(Key.parse(conversation))
        elif what == "inbox":
            self.engine.inbox_wake.set()

    def workers(self) -> dict[str, bool]:
        """Whether each background task is running (for /healthz); empty before start()."""
        return {task.get_name(): not task.done() for task in self._tasks}

    async def _purge_daily(self) -> None:
        # In the background, in small transactions (purge_in_batches): start-up does not wait
        # for it, and the turns and sends owed since the last stop go between its batches
        # rather than after a purge that can take minutes on a big database's first run.
        while True:
            try:
                counts = await self.purge_once()
                if counts is not None:
                    log.info("purged %s", counts)
            except Exception:
                log.exception("retention purge failed; trying again tomorrow")
            await asyncio.sleep(PURGE_EVERY)

    async def purge_once(self) -> dict[str, int] | None:
        """Retention, once, in batches: what was deleted, by table; None when another worker on
        the same database has purged today (the first to take the day's number does it)."""
        now = self.engine.clock()
        if getattr(self.store, "shared", False):
            async with self.store.transaction() as tx:
                if not (await tx.next_reference("purge", now.strftime("%Y%m%d"))).endswith("-0001"):
                    return None
        return await purge_in_batches(self.store, now, self.settings.retention, pace=PURGE_PACE)

    async def close(self) -> None:
        """Stop the background work and close the store (idempotent)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not self._closed:
            self._closed = True
            await self.store.close()

    async def run_until_stopped(self, *channels: Callable[[], Awaitable[None]]) -> None:
        """Start, run each channel's coroutine (a poller, a web server) until SIGINT or SIGTERM or
        until one of them fails, then stop everything and close."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        running = [
            asyncio.create_task(run(), name=getattr(run, "__qualname__", "channel")) for run in channels
        ]
        stopping = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopping, *running], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopping and not task.cancelled() and task.exception():
                    raise task.exception()
        finally:
            for task in [stopping, *running]:
                task.cancel()
            await asyncio.gather(stopping, *running, return_exceptions=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await self.close()


async def open_app(
    db: str | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    clock: Callable[[], datetime] = now_jst,
) -> App:
    """Read the settings and load and check every data file first, so a broken setting, table
    or template stops start-up; then open (and migrate) the store."""
    settings = Settings.from_env(env, db)
    rates = load_rates()
    texts = Texts()
    texts.check()
    staff = None
    if settings.staff_chat_id is not None:
        staff = StaffSettings(settings.office_hours, settings.answer_wait)
    store = await open_store(settings.db, **settings.store_options())
    engine = Engine(store, texts, all_dialogs(), clock=clock, data={"rates": rates}, staff=staff)
    return App(settings, store, engine)


def configure_logging(secrets: Iterable[str] = (), env: Mapping[str, str] = os.environ) -> None:
    """One line per event to stderr (QUOTEBOT_LOG_FORMAT text or json), every secret replaced by
    <redacted>, conversation ids hashed, httpx (which logs the token in URLs) kept quiet."""
    from bot import logs

    logs.setup(env, secrets)
