"""The Telegram channel: updates in, through the engine's inbox; python-telegram-bot as transport.

Long polling is our own getUpdates loop on PTB's `Bot`: each batch is committed to the inbox
(`engine.accept`) before the next getUpdates call, whose offset is what tells Telegram we have
the batch. (PTB's Updater confirms a batch as soon as it has fetched it, so a crash lost the
updates it had not yet handled.) A webhook handler would call `TelegramChannel.take` the same
way and answer 2xx after it returns.

Dialog state lives in our store, not in PTB. What goes out is rendered by
bot/channels/telegram_sender.py (user chats) and bot/channels/telegram_desk.py (the staff
group), the outbox's senders for the routes "telegram" and "staff".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Sequence

from telegram import Bot, BotCommand, Message, Update
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.request import BaseRequest
from telegram.warnings import PTBDeprecationWarning

from bot.channels.telegram_desk import TelegramDesk, group_window
from bot.channels.telegram_sender import TelegramSender, _seconds, bot_limit, chat_bucket
from bot.engine import Engine
from bot.messages import Envelope, Inbound, Key, Reply, Staff
from bot.settings import ConfigError

log = logging.getLogger(__name__)
# PTB 22 warns that RetryAfter.retry_after will become a timedelta; telegram_sender._seconds reads both.
warnings.filterwarnings("ignore", message=".*retry_after.*", category=PTBDeprecationWarning)

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
COMMANDS = ("start", "quote", "incident", "staff", "myquotes", "cancel", "lang", "help", "delete")
ALLOWED_UPDATES = ["message", "callback_query"]
POLL_TIMEOUT = 25  # seconds a getUpdates call may wait for news


def make_bot(token: str, base_url: str = DEFAULT_API_BASE_URL, request: BaseRequest | None = None) -> Bot:
    """PTB's Bot; `base_url` may point at a self-hosted Bot API server, `request` replaces the
    HTTP layer (tests answer it in-process)."""
    base_url = base_url.rstrip("/")
    return Bot(
        token,
        base_url=base_url,
        base_file_url=base_url.removesuffix("/bot") + "/file/bot",
        request=request,
        get_updates_request=request,
    )


class StartupError(ConfigError):
    """Telegram would not start the bot: a wrong or revoked token, or no network. One line."""


async def start_bot(bot: Bot, base_url: str = DEFAULT_API_BASE_URL) -> None:
    """`bot.initialize()` (getMe), its failures said in one line that never holds the token."""
    where = base_url.rstrip("/").removesuffix("/bot")
    try:
        await bot.initialize()
    except InvalidToken:
        raise StartupError(
            "Telegram refused the bot token (wrong or revoked): check TELEGRAM_BOT_TOKEN with @BotFather"
        ) from None
    except NetworkError as e:
        reason = type(e.__cause__ or e).__name__
        raise StartupError(f"cannot reach Telegram at {where} ({reason}): check the network") from None
    except TelegramError as e:
        raise StartupError(f"Telegram would not start the bot ({type(e).__name__})") from None


async def drop_webhook(bot) -> str | None:
    """Before long polling: delete a webhook Telegram still has (getUpdates is refused while one
    is set) and say so; returns its address, or None when there was none. Pending updates stay."""
    info = await bot.get_webhook_info()
    if not info.url:
        return None
    await bot.delete_webhook(drop_pending_updates=False)
    log.warning("telegram: deleted the webhook %s that Telegram had; polling instead", info.url)
    return info.url


def conversation_key(chat_id: int) -> Key:
    return Key("telegram", str(chat_id))


def to_inbound(update: Update) -> Inbound | None:
    """The engine's view of an update from a private chat, or None for what we do not handle."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type != chat.PRIVATE:
        return None
    common = dict(
        conversation=conversation_key(chat.id),
        event_id=f"telegram:{update.update_id}",
        locale_hint=user.language_code if user else None,
        user_name=user.full_name if user else None,
        order=update.update_id,
    )
    query = update.callback_query
    if query is not None:
        ctx = {"callback_query_id": query.id}
        if isinstance(query.message, Message):
            ctx["message_id"] = query.message.message_id  # the message to edit in place
        return Inbound(kind="tap", text=query.data or "", reply_ctx=ctx, **common)
    message = update.message
    if message is None:
        return None  # edits, reactions, channel posts...
    common["ref"] = f"{chat.id}:{message.message_id}"
    if message.text is not None:
        return Inbound(kind="text", text=message.text, **common)
    return Inbound(kind="media", **common)


class TelegramChannel:
    """Telegram's two parts: the inbound adapter (`take`, `poll`) and the senders it registers."""

    def __init__(self, engine: Engine, bot: Bot, staff_chat_id: int | None = None, *, limits: bool = True):
        """`limits=False` (TELEGRAM_RATE_LIMITS=off) sends as fast as the Bot API answers: for
        benchmarks against a local stub, whose point is the bot's own cost, not Telegram's pace."""
        self.engine, self.bot, self.staff_chat_id = engine, bot, staff_chat_id
        self.sender = TelegramSender(bot)
        engine.plain_answers["telegram"] = self.sender.answer_at_once  # the spinner stops first
        self.desk = (
            TelegramDesk(bot, staff_chat_id, engine.store, engine.clock, engine.staff_text)
            if staff_chat_id is not None
            else None
        )
        # Telegram's limits, before each send: per chat, per group, and for the bot as a whole.
        overall = bot_limit() if limits else None
        engine.outbox.register(
            "telegram", self.sender, limit=chat_bucket if limits else None, overall=overall
        )
        if self.desk is not None:
            engine.outbox.register(
                "staff", self.desk, limit=group_window if limits else None, overall=overall
            )

    # -- in ---------------------------------------------------------------------------------------

    async def take(self, updates: Sequence[Update]) -> int:
        """Commit a batch of updates to the inbox; after this returns, confirm them to Telegram.
        How many were new events (redeliveries and updates we do not handle are not)."""
        inbounds, notes = [], []
        for update in updates:
            chat = update.effective_chat
            if self.desk is not None and chat is not None and chat.id == self.staff_chat_id:
                staff = await self._from_staff(update)
                if isinstance(staff, Inbound):
                    inbounds.append(staff)
                elif staff is not None:
                    notes.append(staff)
            elif (inbound := to_inbound(update)) is not None:
                inbounds.append(inbound)
        if notes:
            await self.engine.post(notes)
        return await self.engine.accept(inbounds)

    async def accept_update(self, data: dict) -> str:
        """One update as a webhook receives it (JSON): "accepted", "duplicate" or "ignored" once
        committed; raises if it could not be (then answer non-2xx, and Telegram sends it again)."""
        update = Update.de_json(data, self.bot)
        chat = update.effective_chat
        handled = to_inbound(update) is not None or (chat is not None and chat.id == self.staff_chat_id)
        new = await self.take([update])
        return "accepted" if new else ("duplicate" if handled else "ignored")

    async def _from_staff(self, update: Update) -> Inbound | Envelope | None:
        """A person's message in a customer's topic is that conversation's event; a /command in
        General, or a message in a topic that is no customer's, is answered so; the rest
        (service messages, other bots, taps) is ignored."""
        message = update.message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return None
        thread = message.message_thread_id if message.is_topic_message else None
        if thread is None:
            if not (message.text or "").startswith("/"):
                return None
        elif message.text is None and not message.effective_attachment:
            return None  # topic created, closed, renamed...
        else:
            inbound = await self.desk.to_inbound(message, update.update_id)
            if inbound is not None:
                return inbound
        text = self.engine.staff_text("staff/unknown_topic")
        where = {"thread": thread} if thread is not None else None
        return Envelope(Staff(), Reply("staff/unknown_topic", text), kind="alert", reply_ctx=where)

    async def poll(self) -> None:
        """Long-poll until cancelled. The offset that confirms a batch is only sent after the
        batch is in the inbox; a crash before that gets the batch again, and the inbox drops
        whatever it already has."""
        offset = None
        failures = 0
        try:
            while True:
                try:
                    updates = await self.bot.get_updates(
                        offset=offset, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES
                    )
                    if updates:
                        await self.take(updates)
                        offset = updates[-1].update_id + 1
                    failures = 0
                except InvalidToken:
                    raise
                except RetryAfter as e:
                    await asyncio.sleep(_seconds(e.retry_after))
                except (NetworkError, TelegramError) as e:
                    failures += 1
                    delay = min(2**failures, 60)
                    log.warning("getUpdates failed (%s); again in %ss", e, delay)
                    await asyncio.sleep(delay)
                except Exception:  # the store: do not confirm, fetch the same batch again
                    failures += 1
                    log.exception("could not commit a batch of updates; fetching it again")
                    await asyncio.sleep(min(2**failures, 60))
        finally:
            if offset is not None:  # confirm the last batch, so a restart does not fetch it again
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.bot.get_updates(offset=offset, timeout=0), 5)

    # -- set-up -----------------------------------------------------------------------------------

    async def register_commands(self) -> None:
        """The command menu Telegram shows, in Japanese by default and in English for English users."""
        texts = self.engine.texts
        for language in ("ja", "en"):
            commands = [BotCommand(name, texts.label(language, "commands", name)) for name in COMMANDS]
            await self.bot.set_my_commands(commands, language_code=None if language == "ja" else language)
