"""Telegram delivery of the outbox: reminders and relays to users, alerts and topics for staff.

Each customer has one forum topic in the staff group; Telegram has no API to list topics, so
the conversation↔topic map is ours (bot/store.py). A topic is created when its first message
goes out. The outbox worker sends one row at a time, so two quick first messages still make
one topic. A topic someone deleted ("message thread not found") is recreated, briefed again,
and the message goes into the new one: nothing is lost.
"""

from __future__ import annotations

import base64
import logging
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.effects import STAFF
from bot.engine import Engine
from bot.outbox import GiveUp, OutboxWorker, RetryLater, SlidingWindow

log = logging.getLogger(__name__)

# Telegram's limits: 20 messages a minute in a group, about one a second in a private chat.
GROUP_LIMIT = (20, timedelta(minutes=1))
CHAT_LIMIT = (1, timedelta(seconds=1))
TOPIC_NAME_LIMIT = 128


class TopicLost(Exception):
    """Telegram no longer knows the topic (someone deleted it)."""


class TelegramDelivery:
    def __init__(self, engine: Engine, bot: Bot, staff_chat_id: int | None):
        self.engine, self.bot, self.staff_chat_id = engine, bot, staff_chat_id

    def worker(self) -> OutboxWorker:
        limits = {STAFF: lambda: SlidingWindow(*GROUP_LIMIT), "telegram:": lambda: SlidingWindow(*CHAT_LIMIT)}
        prefixes = ("telegram:", STAFF) if self.staff_chat_id else ("telegram:",)
        return OutboxWorker(
            self.engine.store,
            self.engine.clock,
            prefixes,
            self.deliver,
            wake=self.engine.outbox_ready,
            limits=limits,
        )

    async def deliver(self, row: dict) -> None:
        """Send one outbox row; Telegram's errors become retry-later or give-up."""
        try:
            if row["destination"] == STAFF:
                await self._to_staff(row["payload"])
            else:
                await self._send(int(row["destination"].split(":", 1)[1]), row["payload"])
        except RetryAfter as e:
            raise RetryLater(_seconds(e.retry_after), "Telegram flood control") from None
        except Forbidden as e:
            raise GiveUp(e.message) from None
        except BadRequest as e:
            if "chat not found" in e.message.lower():
                raise GiveUp(e.message) from None
            raise
        except (TimedOut, NetworkError) as e:
            raise RetryLater(5, str(e)) from None

    async def _send(self, chat_id: int, payload: dict, thread: int | None = None) -> None:
        """One message: a copy of a user's or staff's message, plain text, or our HTML with buttons."""
        try:
            if "copy" in payload:
                await self.bot.copy_message(chat_id, message_thread_id=thread, **payload["copy"])
            elif "document" in payload:
                document = payload["document"]
                file = InputFile(base64.b64decode(document["base64"]), filename=document["filename"])
                await self.bot.send_document(
                    chat_id,
                    file,
                    caption=payload.get("text"),
                    parse_mode=ParseMode.HTML,
                    message_thread_id=thread,
                )
            elif "plain" in payload:
                await self.bot.send_message(chat_id, payload["plain"], message_thread_id=thread)
            elif "text" in payload:
                rows = [
                    [InlineKeyboardButton(label, callback_data=t)] for t, label in payload.get("buttons", [])
                ]
                await self.bot.send_message(
                    chat_id,
                    payload["text"],
                    parse_mode=ParseMode.HTML,
                    message_thread_id=thread,
                    reply_markup=InlineKeyboardMarkup(rows) if rows else None,
                )
        except BadRequest as e:
            if thread is not None and "thread not found" in e.message.lower():
                raise TopicLost() from None
            raise

    async def _to_staff(self, payload: dict) -> None:
        conversation = payload.get("topic_of")
        if conversation is None:  # an alert for the whole group (General)
            await self._send(self.staff_chat_id, payload)
            return
        thread = await self._topic(conversation, payload.get("topic_name"))
        try:
            if payload.get("reopen_topic"):
                await self._quietly(self.bot.reopen_forum_topic(self.staff_chat_id, thread))
            await self._send(self.staff_chat_id, payload, thread)
        except TopicLost:
            log.warning("topic %s of %s was deleted; making a new one", thread, conversation)
            thread = await self._topic(conversation, payload.get("topic_name"), lost=thread)
            await self._send(self.staff_chat_id, payload, thread)
        if payload.get("close_topic"):
            await self._quietly(self.bot.close_forum_topic(self.staff_chat_id, thread))

    async def _topic(self, conversation: str, name: str | None, lost: int | None = None) -> int:
        """The conversation's topic, created (and briefed) when there is none or it was lost."""
        store, now = self.engine.store, self.engine.clock()
        async with store.transaction() as tx:
            known = await tx.topic_of(conversation)
        if known and known["thread_id"] and known["thread_id"] != lost:
            return known["thread_id"]
        name = (name or (known or {}).get("name") or conversation)[:TOPIC_NAME_LIMIT]
        topic = await self.bot.create_forum_topic(self.staff_chat_id, name)
        thread = topic.message_thread_id
        async with store.transaction() as tx:
            await tx.set_topic(conversation, thread, name, now)
            transcript = await tx.transcript(conversation, limit=10)
        if lost is not None:
            note = self.engine.staff_text(
                "staff/topic_recreated", conversation=conversation, transcript=transcript
            )
            await self._send(self.staff_chat_id, {"text": note}, thread)
        return thread

    @staticmethod
    async def _quietly(call) -> None:
        """Closing a closed topic or reopening an open one is not worth failing a message for."""
        try:
            await call
        except BadRequest as e:
            log.info("topic state unchanged: %s", e.message)


def _seconds(value) -> float:
    """RetryAfter.retry_after is an int in PTB 22 and a timedelta later."""
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)
