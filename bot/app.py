"""Assemble the product from its parts: settings, data checked at start-up, store, engine."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.engine import Engine
from bot.handoff import StaffSettings
from bot.settings import ConfigError
from bot.store import Store
from bot.texts import Texts
from dialogs import all_dialogs
from dialogs.office_hours import OfficeHours
from rates.coverage import JST
from rates.tables import load_rates

DEFAULT_DB = "./data/quotebot.db"


def now_jst() -> datetime:
    return datetime.now(JST)


@dataclass
class App:
    engine: Engine
    store: Store

    async def close(self) -> None:
        await self.store.close()


def staff_settings(env: Mapping[str, str]) -> StaffSettings:
    """Office hours and how long a waiting user waits before being told nobody answered."""
    minutes = env.get("QUOTEBOT_STAFF_ANSWER_MINUTES", "").strip() or "15"
    if not minutes.isdigit() or int(minutes) < 1:
        raise ConfigError("QUOTEBOT_STAFF_ANSWER_MINUTES must be a whole number of minutes (1 or more)")
    return StaffSettings(OfficeHours.from_env(env), timedelta(minutes=int(minutes)))


def retention(env: Mapping[str, str]) -> timedelta:
    """How long an untouched conversation is kept (QUOTEBOT_RETENTION_DAYS, default 365)."""
    days = env.get("QUOTEBOT_RETENTION_DAYS", "").strip() or "365"
    if not days.isdigit() or int(days) < 1:
        raise ConfigError("QUOTEBOT_RETENTION_DAYS must be a whole number of days (1 or more)")
    return timedelta(days=int(days))


async def open_app(
    db_path: str | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    clock: Callable[[], datetime] = now_jst,
) -> App:
    """Load and check every data file first, so a broken table or template stops start-up."""
    staff = staff_settings(env)
    rates = load_rates()
    texts = Texts()
    texts.check()
    store = await Store.open(db_path or env.get("QUOTEBOT_DB") or DEFAULT_DB)
    engine = Engine(
        store,
        texts,
        all_dialogs(),
        clock=clock,
        data={"rates": rates},
        staff=staff if env.get("TELEGRAM_STAFF_CHAT_ID", "").strip() else None,
    )
    return App(engine=engine, store=store)
