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
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.handoff import StaffSettings, on_staff_message
from bot.markup import to_plain
from bot.messages import Inbound, Outcome, Reply, StaffInbound, reply_payload
from bot.store import Store
from bot.texts import LOCALES, Texts
from bot.turn import Turn
from dialogs.steps import Dialog

log = logging.getLogger(__name__)

# Telegram refuses longer messages anyway; a pasted novel in the console is cut here.
MAX_INBOUND_CHARS = 4096


class Engine:
    def __init__(
        self,
        store: Store,
        texts: Texts,
        dialogs: Mapping[str, Dialog],
        *,
        clock: Callable[[], datetime],
        data: Mapping[str, Any],
        staff: StaffSettings | None = None,
    ):
        self.store = store
        self.texts = texts
        self.dialogs = dialogs
        self.clock = clock
        self.data = data  # loaded once at start-up (rate tables...), handed to dialog hooks
        self.staff = staff  # None: no staff chat to alert or hand over to
        # Set after a commit that queued outbox messages, so a channel's worker sends them at once.
        self.outbox_ready = asyncio.Event()
        self._locks: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    def staff_text(self, key: str, **params: Any) -> str:
        """A message for staff, in the staff's language."""
        return self.texts.render(self.staff.locale if self.staff else "ja", key, **params)

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
                lang = await self._language(inbound)
                return Outcome((Reply("common/error", self.texts.render(lang, "common/error")),))

    async def _language(self, inbound: Inbound) -> str:
        """The conversation's language (an English user's error is in English), else the hint's."""
        try:
            async with self.store.transaction() as tx:
                row = await tx.load_conversation(inbound.conversation)
            if row is not None and row.state.get("lang") in LOCALES:
                return row.state["lang"]
        except Exception:  # the store itself failed: fall back to what the platform said
            log.warning("no language for %s", inbound.conversation)
        return "en" if (inbound.locale_hint or "").startswith("en") else "ja"

    async def _turn(self, tx, inbound: Inbound, now: datetime) -> Outcome:
        turn = await self._run_turn(tx, inbound, now, Turn.run)
        if turn is None:
            return Outcome(duplicate=True)
        await self._remember(tx, turn)
        return turn.outcome()

    async def _run_turn(self, tx, inbound: Inbound, now: datetime, act) -> Turn | None:
        """Claim the event, load the conversation, `act` on it, save it; None for a redelivery."""
        if inbound.event_id and not await tx.claim_event(inbound.event_id, now):
            log.info("ignored redelivered event %s", inbound.event_id)
            return None
        row = await tx.load_conversation(inbound.conversation)
        turn = Turn(self, tx, inbound, row.state if row else None, now)
        await act(turn)
        await tx.save_conversation(inbound.conversation, inbound.channel, turn.state, now)
        if turn.queued:
            self.outbox_ready.set()  # harmless if the commit then fails: the worker finds nothing
        return turn

    async def _remember(self, tx, turn: Turn) -> None:
        """The last messages, for the header of a ticket if the user later asks for a person."""
        lines = [("user", turn.inbound.text)] if turn.inbound.kind == "text" else []
        lines += [("bot", to_plain(reply.text)[:200]) for reply in turn.replies]
        await tx.note_transcript(turn.inbound.conversation, lines, turn.now)

    async def defer(self, conversation: str, replies: tuple[Reply, ...]) -> None:
        """Replies the platform would not take right now: send them through the outbox instead."""
        async with self.store.transaction() as tx:
            for reply in replies:
                await tx.enqueue(conversation, reply_payload(reply), self.clock())
        self.outbox_ready.set()

    async def handle_staff(self, staff: StaffInbound) -> Outcome:
        """A staff message in a customer's topic: relay it or run the staff command.

        Returns what to post back in the topic; messages for the user go through the outbox.
        """
        async with self.store.transaction() as tx:
            conversation = await tx.conversation_of_topic(staff.thread)
        if conversation is None:
            return Outcome((Reply("staff/unknown_topic", self.staff_text("staff/unknown_topic")),))
        topic_replies = []

        async def act(turn: Turn) -> None:
            topic_replies.extend(await on_staff_message(turn, staff.kind, staff.text, staff.ref))
            for reply in turn.replies:  # what the user is told (ticket closed...) goes out later
                await turn.enqueue(conversation, reply_payload(reply))

        inbound = Inbound(conversation, "staff", staff.text, staff.event_id)
        async with self._lock(conversation), self.store.transaction() as tx:
            turn = await self._run_turn(tx, inbound, self.clock(), act)
        return Outcome(tuple(topic_replies), duplicate=turn is None)
