"""Assemble the product from its parts: settings, data checked at start-up, store, engine."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.engine import Engine
from bot.store import Store
from bot.texts import Texts
from dialogs import all_dialogs
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


async def open_app(
    db_path: str | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    clock: Callable[[], datetime] = now_jst,
) -> App:
    """Load and check every data file first, so a broken table or template stops start-up."""
    rates = load_rates()
    texts = Texts()
    texts.check()
    store = await Store.open(db_path or env.get("QUOTEBOT_DB") or DEFAULT_DB)
    engine = Engine(store, texts, all_dialogs(), clock=clock, data={"rates": rates})
    return App(engine=engine, store=store)
