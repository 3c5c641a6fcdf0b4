"""The engine: an inbound event in, state committed, rendered replies out.

Channels call `await engine.handle(inbound)` and send what comes back. One lock per
conversation serialises its events; different conversations run concurrently. Inside the
lock, one store transaction claims the event id (a redelivery is ignored), loads the
conversation, runs the dialog turn and saves it, and only after the commit are the
replies returned for sending, so no answer a user gave is ever lost.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.store import Store
from bot.texts import Texts
from bot.turn import Turn
from dialogs.steps import Dialog

log = logging.getLogger(__name__)

# Telegram refuses longer messages anyway; a pasted novel in the console is cut here.
MAX_INBOUND_CHARS = 4096


@dataclass(frozen=True)
class Inbound:
    """One thing a user did, in platform-neutral terms."""

    conversation: str  # "<channel>:<platform chat id>", e.g. "telegram:12345"
    kind: str  # "text" (commands included: "/start"), "tap" (a button's token) or "media"
    text: str = ""
    event_id: str | None = None  # the platform's id, for dropping redeliveries
    locale_hint: str | None = None  # e.g. Telegram's language_code
    user_name: str | None = None

    @property
    def channel(self) -> str:
        return self.conversation.split(":", 1)[0]


@dataclass(frozen=True)
class Option:
    """A button: the token it sends back (short ASCII) and its label."""

    token: str
    label: str


@dataclass(frozen=True)
class Reply:
    """A message for the user: Telegram-HTML text and buttons."""

    key: str  # the template it was rendered from (for tests and logs)
    text: str
    options: tuple[Option, ...] = ()
    edit: bool = False  # replace the message whose button was tapped (multi-select keyboards)


@dataclass(frozen=True)
class Outcome:
    replies: tuple[Reply, ...] = ()
    notice: str | None = None  # a short toast for a tapped button, where the platform has one
    duplicate: bool = False


class Engine:
    def __init__(
        self,
        store: Store,
        texts: Texts,
        dialogs: Mapping[str, Dialog],
        *,
        clock: Callable[[], datetime],
        data: Mapping[str, Any],
    ):
        self.store = store
        self.texts = texts
        self.dialogs = dialogs
        self.clock = clock
        self.data = data  # loaded once at start-up (rate tables...), handed to dialog hooks
        self._locks: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    def _lock(self, conversation: str) -> asyncio.Lock:
        lock = self._locks.get(conversation)
        if lock is None:
            lock = self._locks[conversation] = asyncio.Lock()
        return lock

    async def handle(self, inbound: Inbound) -> Outcome:
        """Process one event exactly once and return what to send."""
        if len(inbound.text) > MAX_INBOUND_CHARS:
            inbound = replace(inbound, text=inbound.text[:MAX_INBOUND_CHARS])
        async with self._lock(inbound.conversation):
            try:
                async with self.store.transaction() as tx:
                    return await self._turn(tx, inbound, self.clock())
            except Exception:
                # Rolled back, event not marked: a redelivery may try again. The user hears of it.
                log.exception("turn failed in %s", inbound.conversation)
                lang = "en" if (inbound.locale_hint or "").startswith("en") else "ja"
                return Outcome((Reply("common/error", self.texts.render(lang, "common/error")),))

    async def _turn(self, tx, inbound: Inbound, now: datetime) -> Outcome:
        if inbound.event_id and not await tx.claim_event(inbound.event_id, now):
            log.info("ignored redelivered event %s", inbound.event_id)
            return Outcome(duplicate=True)
        row = await tx.load_conversation(inbound.conversation)
        turn = Turn(self, tx, inbound, row.state if row else None, now)
        await turn.run()
        await tx.save_conversation(inbound.conversation, inbound.channel, turn.state, now)
        return turn.outcome()
