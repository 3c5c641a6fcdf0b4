"""Telegram's one renderer and its sender: outbox rows for user chats become Bot API calls.

A `Reply` is sent as HTML (our neutral markup is Telegram's subset already) with an inline
keyboard: the choices two a row when every label is short, else one a row, then each action on
its own row. Text over 4096 characters is cut at line breaks, the keyboard under the last piece.
A document goes as a file with the text as its caption. `replaces` edits the tapped message
(its id comes back in the row's reply_ctx) and falls back to a new message. A `Notice` answers
the tapped button's callback query; a `Forward` copies the Telegram message it names.
Telegram's errors become RetryLater (429, 5xx, no connection), OutcomeUnknown (no answer: it
may have been done) or GiveUp (blocked, chat gone, refused).

Edits and callback answers can be repeated harmlessly (an edit again is "not modified", an
answer again is refused), so they are simply retried, an edit as an edit. A new message or a
copy could show twice: `row.attempt()` writes the attempt down before the call (bot/outbox.py),
and a send after one of unknown outcome waits RESEND_READ_TIMEOUT for its answer, so that its
own outcome is known.

Telegram's limits (its Bot FAQ, "My bot is hitting limits") are the outbox's to enforce
(bot/limits.py); this module says what they are for a bot and what each row costs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.constants import MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.limits import BotLimit, TokenBucket
from bot.markup import split_lines
from bot.messages import Forward, Key, Notice, Reply
from bot.outbox import GiveUp, OutboxRow, OutcomeUnknown, RetryLater

log = logging.getLogger(__name__)

SHORT_LABEL = 12  # two choices a row when every label is this short (in characters)
CAPTION_LIMIT = 1024
CALLBACK_TEXT_LIMIT = 200
# Seconds a send after one of unknown outcome waits for Telegram's answer (PTB's default read
# timeout, for every other call, is 5 s): each unknown outcome may cost a copy, so the next
# send's outcome had better be known.
RESEND_READ_TIMEOUT = 20.0
# Seconds a tap's answer (its toast) may take. It goes before the turn's reply in the chat's
# order; PTB's 5 s for a toast that never came would hold that reply up for nothing (an answer
# again is harmless: Telegram refuses a second one).
TAP_READ_TIMEOUT = 2.0
# Taps answered early whose rows have not been sent, kept at most (a row sent by another worker,
# or a group that never committed, leaves its entry; done ones are dropped beyond this).
ANSWERING_KEPT = 1000
TAP_TRIES, TAP_PAUSE = 3, 0.2  # a tap's answer refused with a 5xx is tried again at once, twice
# httpx's errors (the cause PTB keeps) for a request that never left: no connection, or none
# free in the pool. Named, not imported: only PTB talks to httpx.
_NEVER_SENT = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout"})
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
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):  # TimedOut too
        if type(error.__cause__).__name__ in _NEVER_SENT:
            return RetryLater(None, str(error))
        if isinstance(error, TimedOut) or error.__cause__ is not None:
            # No answer (a read timeout, the connection lost mid-call): it may have been done.
            return OutcomeUnknown(None, str(error))
        return RetryLater(None, str(error))  # Telegram answered 5xx: nothing was done
    return GiveUp(error.message)  # Forbidden (blocked), chat not found, a message Telegram refuses


async def send_reply(
    bot: Bot,
    chat_id: int,
    reply: Reply,
    *,
    thread: int | None = None,
    edit_message: int | None = None,
    before_new: Callable[[], Awaitable[None]] | None = None,
    read_timeout: float | None = None,
) -> None:
    """One reply, as described at the top of this module. BadRequest "thread not found" is
    raised as TopicLost; other Telegram errors are raised as they are. `before_new` is awaited
    before the first call that makes a new message (an edit makes none); `read_timeout`
    replaces PTB's for those calls."""
    markup = keyboard(reply)
    html = ParseMode.HTML
    wait = {"read_timeout": read_timeout} if read_timeout is not None else {}

    async def new_message() -> None:
        if before_new is not None:
            await before_new()

    try:
        if reply.document is not None:
            await new_message()
            caption = reply.text
            if len(caption) > CAPTION_LIMIT:  # too long for a caption: the text first, then the file
                for chunk in split_text(caption):
                    await bot.send_message(chat_id, chunk, parse_mode=html, message_thread_id=thread, **wait)
                caption = ""
            await bot.send_document(
                chat_id,
                InputFile(reply.document.content, filename=reply.document.filename),
                caption=caption or None,
                parse_mode=html,
                reply_markup=markup,
                message_thread_id=thread,
                **wait,
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
                    return  # a double tap, or a retried edit that had been made: nothing to change
                log.warning("could not edit message %s: %s; sending a new one", edit_message, e.message)
        await new_message()
        chunks = split_text(reply.text)
        for n, chunk in enumerate(chunks):
            last = n == len(chunks) - 1
            await bot.send_message(
                chat_id,
                chunk,
                parse_mode=html,
                reply_markup=markup if last else None,
                message_thread_id=thread,
                **wait,
            )
    except BadRequest as e:
        if thread is not None and "thread not found" in e.message.lower():
            raise TopicLost() from None
        raise


async def send_forward(
    bot: Bot, chat_id: int, forward: Forward, *, thread: int | None = None, read_timeout: float | None = None
) -> None:
    """Copy a Telegram message (a user's photo to staff, a staff member's file to the user)."""
    if forward.channel != "telegram":
        raise GiveUp(f"cannot relay a {forward.channel} message on Telegram")
    from_chat, _, message_id = forward.ref.partition(":")
    wait = {"read_timeout": read_timeout} if read_timeout is not None else {}
    try:
        await bot.copy_message(
            chat_id,
            int(from_chat),
            int(message_id),
            caption=forward.caption or None,
            message_thread_id=thread,
            **wait,
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
    for attempt in range(TAP_TRIES):
        try:
            await bot.answer_callback_query(
                query, text=notice.text[:CALLBACK_TEXT_LIMIT] or None, read_timeout=TAP_READ_TIMEOUT
            )
            return
        except (BadRequest, Forbidden) as e:  # too old (after a restart), or already answered
            log.info("callback answer failed: %s", e.message)
            return
        except NetworkError as e:
            # Telegram answered 5xx (nothing done): try again now, the chat's reply waits behind
            # this answer. A timeout or a lost connection goes to the outbox's retry.
            if isinstance(e, TimedOut) or e.__cause__ is not None or attempt == TAP_TRIES - 1:
                raise
            await asyncio.sleep(TAP_PAUSE)


class TelegramSender:
    """Sends the outbox rows of Telegram user chats."""

    def __init__(self, bot: Bot):
        self.bot = bot
        # Taps answered at once (answer_at_once), by callback query id, until their row is sent.
        self._answering: dict[str, asyncio.Task] = {}

    def answer_at_once(self, reply_ctx: dict | None) -> None:
        """A tap whose turn shows no notice: answered now, with no text, so the button stops
        spinning before the turn's commit (and the queue of turns ahead of it). Its Notice row,
        committed with the turn, then waits for this answer instead of making a second one;
        if this one failed, the row answers the ordinary way (retried like any row). After a
        restart nothing is remembered: the row's answer is refused as already made (logged)."""
        query = (reply_ctx or {}).get("callback_query_id")
        if not query or query in self._answering:
            return
        if len(self._answering) >= ANSWERING_KEPT:  # rows another process sent, or never will
            for done in [q for q, task in self._answering.items() if task.done()]:
                del self._answering[done]
        task = asyncio.create_task(answer_tap(self.bot, Notice(), reply_ctx), name=f"answer tap {query}")
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # the row says what failed
        self._answering[query] = task

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
        wait = RESEND_READ_TIMEOUT if row.uncertain else None
        if isinstance(body, Notice):
            early = self._answering.pop(ctx.get("callback_query_id"), None)
            if early is not None and not body.text:
                try:
                    await asyncio.shield(early)
                    return
                except Exception:  # it failed: answer now, the ordinary way
                    pass
            await answer_tap(self.bot, body, ctx)
        elif isinstance(body, Forward):
            await row.attempt()
            await send_forward(self.bot, chat_id, body, read_timeout=wait)
        else:
            edit = ctx.get("message_id") if body.replaces else None
            await send_reply(
                self.bot, chat_id, body, edit_message=edit, before_new=row.attempt, read_timeout=wait
            )
