"""The Telegram channel: python-telegram-bot as transport only.

Updates become `Inbound`s for the engine; `Reply`s become messages with inline keyboards.
Dialog state lives in our store, not in PTB: PTB's ConversationHandler keeps state in memory
and persists it only every minute. Updates of one chat are processed in order (one lock per
chat in `PerChatUpdateProcessor`), different chats concurrently. This is the only module
that imports `telegram`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import warnings
import weakref
from collections.abc import Mapping

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    ContextTypes,
    TypeHandler,
)
from telegram.request import BaseRequest
from telegram.warnings import PTBDeprecationWarning

from bot.channels.telegram_outbox import TelegramDelivery
from bot.engine import Engine
from bot.messages import Inbound, Reply, StaffInbound
from bot.settings import ConfigError

log = logging.getLogger(__name__)
# PTB 22 warns that RetryAfter.retry_after will become a timedelta; telegram_outbox._seconds reads both.
warnings.filterwarnings("ignore", message=".*retry_after.*", category=PTBDeprecationWarning)

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
COMMANDS = ("start", "quote", "incident", "staff", "myquotes", "cancel", "lang", "help", "delete")
# Two buttons a row when every label is this short (in characters), else one a row.
SHORT_LABEL = 12


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, in order within a chat: a slow chat never stalls the others."""

    def __init__(self, max_concurrent_updates: int = 256):
        super().__init__(max_concurrent_updates)
        # A chat's lock lives while an update holds it or waits for it, so the map stays as small
        # as the set of busy chats. (Dropping it on release was a race: the next update was woken
        # but not yet running, and a third one made a fresh lock and overtook it.)
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def do_process_update(self, update: object, coroutine) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.get(chat.id)
        if lock is None:
            lock = self._locks[chat.id] = asyncio.Lock()
        async with lock:
            await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def conversation_key(chat_id: int) -> str:
    return f"telegram:{chat_id}"


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
    )
    if update.callback_query is not None:
        return Inbound(kind="tap", text=update.callback_query.data or "", **common)
    message = update.message
    if message is None:
        return None  # edits, reactions, channel posts...
    common["ref"] = f"{chat.id}:{message.message_id}"
    if message.text is not None:
        return Inbound(kind="text", text=message.text, **common)
    return Inbound(kind="media", **common)


def to_staff_inbound(update: Update) -> StaffInbound | None:
    """A person's message in a customer's topic of the staff group, or None (service messages,
    other bots, the General topic)."""
    message = update.message
    if message is None or message.from_user is None or message.from_user.is_bot:
        return None
    if not message.is_topic_message or message.message_thread_id is None:
        return None
    if message.text is None and not message.effective_attachment:
        return None  # topic created/closed/renamed...
    return StaffInbound(
        thread=message.message_thread_id,
        kind="text" if message.text is not None else "media",
        text=message.text or "",
        ref=f"{message.chat_id}:{message.message_id}",
        event_id=f"telegram:{update.update_id}",
    )


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.options:
        return None
    buttons = [InlineKeyboardButton(o.label, callback_data=o.token) for o in reply.options]
    per_row = 2 if all(len(o.label) <= SHORT_LABEL for o in reply.options) else 1
    return InlineKeyboardMarkup([buttons[i : i + per_row] for i in range(0, len(buttons), per_row)])


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Telegram refuses messages over 4096 characters: cut at blank lines, then at lines."""
    if len(text) <= limit:
        return [text]
    chunks, current = [], ""
    for paragraph in text.split("\n"):
        candidate = f"{current}\n{paragraph}" if current else paragraph
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        while len(paragraph) > limit:  # one enormous line: cut it (our templates never do this)
            chunks.append(paragraph[:limit])
            paragraph = paragraph[limit:]
        current = paragraph
    if current:
        chunks.append(current)
    return chunks


class TelegramChannel:
    def __init__(self, engine: Engine, staff_chat_id: int | None = None):
        self.engine = engine
        self.staff_chat_id = staff_chat_id

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Hand the update to the engine, answer the button press, send the replies."""
        chat = update.effective_chat
        if chat is not None and self.staff_chat_id is not None and chat.id == self.staff_chat_id:
            await self.on_staff_update(update, context)
            return
        inbound = to_inbound(update)
        if inbound is None:
            return
        query = update.callback_query
        notice = None
        try:
            outcome = await self.engine.handle(inbound)
            notice = outcome.notice
        finally:
            if query is not None:  # always, exactly once, or the user's button spins for seconds
                await _quietly(query.answer(text=notice[:200] if notice else None))
        chat_id = update.effective_chat.id
        edit_target = query.message if query is not None and isinstance(query.message, Message) else None
        for n, reply in enumerate(outcome.replies):
            try:
                await self.send(context.bot, chat_id, reply, edit_target if reply.edit else None)
            except (RetryAfter, TimedOut, NetworkError) as e:
                # The answer is already committed; what the user has not seen yet goes through the
                # outbox, which waits as Telegram asks and retries, instead of being lost.
                log.warning(
                    "reply to %s refused (%s); queued %d message(s)", chat_id, e, len(outcome.replies) - n
                )
                await self.engine.defer(inbound.conversation, outcome.replies[n:])
                return

    async def on_staff_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Only messages in the configured staff chat get here: staff relaying or commanding."""
        if update.callback_query is not None:
            await _quietly(update.callback_query.answer())
            return
        staff = to_staff_inbound(update)
        if staff is None:
            message = update.message
            if message is not None and (message.text or "").startswith("/") and not message.is_topic_message:
                text = self.engine.staff_text("staff/unknown_topic")
                await context.bot.send_message(message.chat_id, text, parse_mode=ParseMode.HTML)
            return
        outcome = await self.engine.handle_staff(staff)
        for reply in outcome.replies:  # answers to staff commands, in the same topic
            try:
                await context.bot.send_message(
                    self.staff_chat_id, reply.text, parse_mode=ParseMode.HTML, message_thread_id=staff.thread
                )
            except TelegramError as e:  # e.g. the topic was just closed by /close
                log.info("could not answer in topic %s: %s", staff.thread, e)

    async def send(self, bot, chat_id: int, reply: Reply, edit_target: Message | None = None) -> None:
        markup = keyboard(reply)
        if reply.document is not None:  # the incident record: the file itself, its text as caption
            await bot.send_document(
                chat_id,
                reply.document.content,
                filename=reply.document.filename,
                caption=reply.text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
            return
        if edit_target is not None:
            try:
                await bot.edit_message_text(
                    reply.text,
                    chat_id=chat_id,
                    message_id=edit_target.message_id,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
                return
            except BadRequest as e:
                if "not modified" in e.message.lower():
                    return  # a double tap that changed nothing
                log.warning("could not edit message %s: %s; sending a new one", edit_target.message_id, e)
        chunks = split_text(reply.text)
        for n, chunk in enumerate(chunks):
            last = n == len(chunks) - 1
            await bot.send_message(
                chat_id, chunk, parse_mode=ParseMode.HTML, reply_markup=markup if last else None
            )


async def _quietly(awaitable) -> None:
    """Answering a callback can fail harmlessly (too old, already answered)."""
    try:
        await awaitable
    except TelegramError as e:
        log.info("callback answer failed: %s", e)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure and tell the user something went wrong, never silence."""
    log.error("update failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat and update.effective_chat.type == "private":
        engine: Engine = context.application.bot_data["engine"]
        lang = (
            "en"
            if (update.effective_user and (update.effective_user.language_code or "").startswith("en"))
            else "ja"
        )
        try:
            await context.bot.send_message(
                update.effective_chat.id,
                engine.texts.render(lang, "common/error"),
                parse_mode=ParseMode.HTML,
            )
        except (TelegramError, Forbidden):
            log.warning("could not tell chat %s about the failure", update.effective_chat.id)


async def register_commands(application: Application) -> None:
    """The command menu Telegram shows, in Japanese by default and in English for English users."""
    texts = application.bot_data["engine"].texts
    for language in ("ja", "en"):
        commands = [BotCommand(name, texts.label(language, "commands", name)) for name in COMMANDS]
        await application.bot.set_my_commands(commands, language_code=None if language == "ja" else language)


def build_application(
    engine: Engine,
    token: str,
    base_url: str = DEFAULT_API_BASE_URL,
    *,
    staff_chat_id: int | None = None,
    request: BaseRequest | None = None,
) -> Application:
    """The PTB Application for our engine; `base_url` may point at a self-hosted Bot API server.

    `request` replaces the HTTP layer (tests answer it in-process).
    """
    base_url = base_url.rstrip("/")
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .base_file_url(base_url.removesuffix("/bot") + "/file/bot")
        .concurrent_updates(PerChatUpdateProcessor())
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    application = builder.build()
    application.bot_data["engine"] = engine
    channel = TelegramChannel(engine, staff_chat_id)
    application.bot_data["delivery"] = TelegramDelivery(engine, application.bot, staff_chat_id)
    application.add_handler(TypeHandler(Update, channel.on_update))
    application.add_error_handler(on_error)
    return application


class _Redact(logging.Filter):
    """Secrets never reach the logs, whatever library formats the message."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "<redacted>"), ()
        return True


def settings(env: Mapping[str, str]) -> tuple[str, str, int | None]:
    """Token, Bot API base URL and staff chat id from the environment."""
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export its token")
    base_url = env.get("TELEGRAM_API_BASE_URL", "").strip() or DEFAULT_API_BASE_URL
    staff = env.get("TELEGRAM_STAFF_CHAT_ID", "").strip()
    try:
        staff_chat_id = int(staff) if staff else None
    except ValueError:
        raise ConfigError("TELEGRAM_STAFF_CHAT_ID must be a chat id such as -1001234567890") from None
    return token, base_url, staff_chat_id


async def purge_daily(app, keep) -> None:
    """Retention: forget what is no longer needed, at start-up and then once a day."""
    while True:
        async with app.store.transaction() as tx:
            counts = await tx.purge(app.engine.clock(), keep)
        log.info("purged %s", counts)
        await asyncio.sleep(24 * 3600)


async def run_telegram(db_path: str | None = None, env: Mapping[str, str] = os.environ) -> None:
    """Long-poll Telegram until SIGINT or SIGTERM, then stop cleanly."""
    from bot.app import open_app, retention

    token, base_url, staff_chat_id = settings(env)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Redact(token))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every URL, token included
    app = await open_app(db_path, env=env)
    application = build_application(app.engine, token, base_url, staff_chat_id=staff_chat_id)
    worker = application.bot_data["delivery"].worker()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with application:
            await register_commands(application)
            await application.start()
            await application.updater.start_polling(allowed_updates=["message", "callback_query"])
            sending = asyncio.create_task(worker.run(), name="outbox")
            tidying = asyncio.create_task(purge_daily(app, retention(env)), name="purge")
            log.info("polling %s as @%s", base_url.replace(token, "<redacted>"), application.bot.username)
            await stop.wait()
            sending.cancel()
            tidying.cancel()
            await application.updater.stop()
            await application.stop()
    finally:
        await app.close()
