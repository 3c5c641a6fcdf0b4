"""Telegram's one renderer and its sender: outbox rows for user chats become Bot API calls.

A `Reply` is sent as HTML (our neutral markup is Telegram's subset already) with an inline
keyboard: the choices two a row when every label is short, else one a row, then each action on
its own row. Text over 4096 characters is cut at line breaks, the keyboard under the last piece.
A document goes as a file with the text as its caption. `replaces` edits the tapped message
(its id comes back in the row's reply_ctx) and falls back to a new message. A `Notice` answers
the tapped button's callback query; a `Forward` copies the Telegram message it names.
Telegram's errors become RetryLater (429, network) or GiveUp (blocked, chat gone, refused).

Telegram's limits (its Bot FAQ, "My bot is hitting limits") are the outbox's to enforce
(bot/limits.py); this module says what they are for a bot and what each row costs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.constants import MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.limits import BotLimit, TokenBucket
from bot.markup import split_lines
from bot.messages import Forward, Key, Notice, Reply
from bot.outbox import GiveUp, OutboxRow, RetryLater

log = logging.getLogger(__name__)

SHORT_LABEL = 12  # two choices a row when every label is this short (in characters)
CAPTION_LIMIT = 1024
CALLBACK_TEXT_LIMIT = 200
# "Avoid sending more than one message per second" in one chat, "short bursts" allowed: a turn
# sends one to three messages (a quote's result is two, a tap's edit one), so a burst of 5 lets
# every turn's reply go at once, and a flood to one chat (reminders, a long relay) slows to 1/s.
CHAT_BURST, CHAT_RATE = 5, 1.0
# "Not more than 30 messages per second or so" for the whole bot (user chats and staff group).
BOT_LIMIT = (30, timedelta(seconds=1))


def chat_bucket() -> TokenBucket:
    """One private chat's limit."""
    return TokenBucket(CHAT_BURST, CHAT_RATE)


def bot_limit() -> BotLimit:
    """The whole bot's limit, one for all its routes ("telegram" and "staff")."""
    return BotLimit("telegram", *BOT_LIMIT)


def reply_cost(reply: Reply, *, edit: bool = False) -> int:
    """How many messages `send_reply` sends for this reply."""
    if reply.document is not None:
        return 1 + (len(split_text(reply.text)) if len(reply.text) > CAPTION_LIMIT else 0)
    if not reply.text:
        return 0
    if edit and len(reply.text) <= MessageLimit.MAX_TEXT_LENGTH:
        return 1
    return len(split_text(reply.text))


class TopicLost(Exception):
    """Telegram no longer knows the forum topic (someone deleted it)."""


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    choices = [InlineKeyboardButton(o.label, callback_data=o.token) for o in reply.choices]
    per_row = 2 if all(len(o.label) <= SHORT_LABEL for o in reply.choices) else 1
    rows = [choices[i : i + per_row] for i in range(0, len(choices), per_row)]
    rows += [[InlineKeyboardButton(o.label, callback_data=o.token)] for o in reply.actions]
    return InlineKeyboardMarkup(rows)


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Telegram refuses messages over 4096 characters: cut at line breaks (a line longer than
    that, which our templates never make, is cut where it must be)."""
    if len(text) <= limit:
        return [text]
    return split_lines(text, limit)


def _seconds(value) -> float:
    """RetryAfter.retry_after is an int in PTB 22 and a timedelta later."""
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def translated(error: TelegramError) -> Exception:
    """Telegram's error as the outbox understands it."""
    if isinstance(error, RetryAfter):
        return RetryLater(_seconds(error.retry_after), "Telegram flood control", flood=True)
    if isinstance(error, TimedOut):
        # The request may have reached Telegram: sending again may show the message twice.
        log.warning("Telegram timed out; the outcome is unknown and the message may arrive twice")
        return RetryLater(5, str(error))
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        return RetryLater(5, str(error))
    return GiveUp(error.message)  # Forbidden (blocked), chat not found, a message Telegram refuses


async def send_reply(
    bot: Bot,
    chat_id: int,
    reply: Reply,
    *,
    thread: int | None = None,
    edit_message: int | None = None,
) -> None:
    """One reply, as described at the top of this module. BadRequest "thread not found" is
    raised as TopicLost; other Telegram errors are raised as they are."""
    markup = keyboard(reply)
    html = ParseMode.HTML
    try:
        if reply.document is not None:
            caption = reply.text
            if len(caption) > CAPTION_LIMIT:  # too long for a caption: the text first, then the file
                for chunk in split_text(caption):
                    await bot.send_message(chat_id, chunk, parse_mode=html, message_thread_id=thread)
                caption = ""
            await bot.send_document(
                chat_id,
                InputFile(reply.document.content, filename=reply.document.filename),
                caption=caption or None,
                parse_mode=html,
                reply_markup=markup,
                message_thread_id=thread,
            )
            return
        if not reply.text:
            return  # nothing to say (a staff desk operation alone)
        if edit_message is not None and len(reply.text) <= MessageLimit.MAX_TEXT_LENGTH:
            try:
                await bot.edit_message_text(
                    reply.text, chat_id=chat_id, message_id=edit_message, parse_mode=html, reply_markup=markup
                )
                return
            except BadRequest as e:
                if "not modified" in e.message.lower():
                    return  # a double tap that changed nothing
                log.warning("could not edit message %s: %s; sending a new one", edit_message, e.message)
        chunks = split_text(reply.text)
        for n, chunk in enumerate(chunks):
            last = n == len(chunks) - 1
            await bot.send_message(
                chat_id,
                chunk,
                parse_mode=html,
                reply_markup=markup if last else None,
                message_thread_id=thread,
            )
    except BadRequest as e:
        if thread is not None and "thread not found" in e.message.lower():
            raise TopicLost() from None
        raise


async def send_forward(bot: Bot, chat_id: int, forward: Forward, *, thread: int | None = None) -> None:
    """Copy a Telegram message (a user's photo to staff, a staff member's file to the user)."""
    if forward.channel != "telegram":
        raise GiveUp(f"cannot relay a {forward.channel} message on Telegram")
    from_chat, _, message_id = forward.ref.partition(":")
    try:
        await bot.copy_message(
            chat_id,
            int(from_chat),
            int(message_id),
            caption=forward.caption or None,
            message_thread_id=thread,
        )
    except BadRequest as e:
        if thread is not None and "thread not found" in e.message.lower():
            raise TopicLost() from None
        raise


async def answer_tap(bot: Bot, notice: Notice, reply_ctx: dict | None) -> None:
    """Answer the tapped button (once), with the notice as its toast."""
    query = (reply_ctx or {}).get("callback_query_id")
    if not query:
        return  # no tap to answer (a notice for a typed message): Telegram has nowhere to show it
    try:
        await bot.answer_callback_query(query, text=notice.text[:CALLBACK_TEXT_LIMIT] or None)
    except (BadRequest, Forbidden) as e:  # too old (after a restart), or already answered
        log.info("callback answer failed: %s", e.message)


class TelegramSender:
    """Sends the outbox rows of Telegram user chats."""

    def __init__(self, bot: Bot):
        self.bot = bot

    async def deliver(self, rows: Sequence[OutboxRow]) -> None:
        for row in rows:
            destination = row.destination
            assert isinstance(destination, Key) and destination.channel == "telegram", row
            try:
                await self.send(int(destination.id), row)
            except TelegramError as e:
                raise translated(e) from None
            await row.sent()

    def costs(self, rows: Sequence[OutboxRow]) -> list[int]:
        return [self.cost(row) for row in rows]

    @staticmethod
    def cost(row: OutboxRow) -> int:
        """Messages the row sends: answering a tap (answerCallbackQuery) is not one."""
        body = row.body
        if isinstance(body, Notice):
            return 0
        if isinstance(body, Forward):
            return 1
        return reply_cost(body, edit=body.replaces and bool((row.reply_ctx or {}).get("message_id")))

    async def send(self, chat_id: int, row: OutboxRow) -> None:
        body, ctx = row.body, row.reply_ctx or {}
        if isinstance(body, Notice):
            await answer_tap(self.bot, body, ctx)
        elif isinstance(body, Forward):
            await send_forward(self.bot, chat_id, body)
        else:
            edit = ctx.get("message_id") if body.replaces else None
            await send_reply(self.bot, chat_id, body, edit_message=edit)
