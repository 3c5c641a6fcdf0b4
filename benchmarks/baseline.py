"""The bot a python-telegram-bot user would write: a ConversationHandler with int states.

Written for the benchmark and kept here, never shipped. It holds the same quote dialog as
quotebot's (revenue typed, industry tapped, channels ticked, done) and makes the same Bot API
calls per update: /quote → sendMessage; 3億 → sendMessage with the industry keyboard; industry
tap → answerCallbackQuery + sendMessage; channel tap → answerCallbackQuery + editMessageText;
done → answerCallbackQuery + sendMessage (the quote's summary) + sendMessage (the "what next" menu).
The words are quotebot's templates and labels and the price is quotebot's `quote()`, so both
bots do the same work for the user and the comparison is about the machinery around it.

PTB's default processing (`concurrent_updates` off: one update at a time) and one of three
persistences, the forms a PTB user picks from:

- `default`: PicklePersistence as documented, written every `update_interval` (60 s): state
  lives in memory and a crash loses up to a minute.
- `pickle`: the same, made durable per update the PTB way: `application.update_persistence()`
  after every update (a handler in a later group), with `on_flush=False`, so PicklePersistence
  re-pickles the whole file on each change (no fsync; a crash mid-write loses the file).
- `fsync`: `on_flush=True` and, after every update, `update_persistence()` then `flush()`,
  whose write goes to a temporary file, is fsync'd and renamed over the old one (and the
  folder fsync'd): durable against power loss, as quotebot's `synchronous=FULL` is.

All three send their reply before the state is written (the handler answers, then the
persistence runs), which is as far as a PTB bot gets without its own store.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    TypeHandler,
    filters,
)
from telegram.ext._picklepersistence import _BotPickler
from telegram.request import BaseRequest

from bot.texts import Texts
from dialogs.quote import NEXT_ACTIONS
from rates.amounts import AmountError, parse_yen
from rates.codes import CHANNELS, INDUSTRIES
from rates.pricing import QuoteRequest, quote

FORMS = ("default", "pickle", "fsync")
REVENUE, INDUSTRY, CHANNEL, MENU = range(4)
NEXT = tuple(NEXT_ACTIONS)  # the "what next" menu's buttons, as quotebot's
NAME = "quote"
TOKEN = "123:ABC"


class FsyncPicklePersistence(PicklePersistence):
    """PicklePersistence whose flush survives power loss: temp file, fsync, rename, fsync folder."""

    def _dump_singlefile(self) -> None:
        data = {
            "conversations": self.conversations,
            "user_data": self.user_data,
            "chat_data": self.chat_data,
            "bot_data": self.bot_data,
            "callback_data": self.callback_data,
        }
        path = Path(self.filepath)
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("wb") as file:
            _BotPickler(self.bot, file, protocol=pickle.HIGHEST_PROTOCOL).dump(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _keyboard(buttons: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """Two a row when every label is short, as quotebot lays them out."""
    row = 2 if all(len(label) <= 12 for _, label in buttons) else 1
    keys = [InlineKeyboardButton(label, callback_data=data) for data, label in buttons]
    return InlineKeyboardMarkup([keys[i : i + row] for i in range(0, len(keys), row)])


class QuoteBot:
    """The handlers; `clock()` is "now" (fixed in the benchmark, as for quotebot)."""

    def __init__(self, texts: Texts, rates, clock: Callable[[], datetime], lang: str = "ja"):
        self.texts, self.rates, self.clock, self.lang = texts, rates, clock, lang

    def render(self, key: str, **params) -> str:
        return self.texts.render(self.lang, key, **params)

    def label(self, group: str, code: str) -> str:
        return self.texts.label(self.lang, group, code)

    def channels_keyboard(self, ticked: list[str]) -> InlineKeyboardMarkup:
        buttons = [
            (f"quote.channels.{c}", ("✅ " if c in ticked else "") + self.label("channel", c))
            for c in CHANNELS
        ]
        return _keyboard([*buttons, ("quote.channels.done", self.label("menu", "done"))])

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        context.chat_data["answers"] = {}
        await update.message.reply_text(
            self.render("quote/revenue", answers={}, answered=[]), parse_mode=ParseMode.HTML
        )
        return REVENUE

    async def revenue(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        try:
            yen = parse_yen(update.message.text)
        except AmountError as e:
            text = self.render("quote/revenue_invalid", code=e.code, fragment=e.fragment[:40])
            await update.message.reply_text(text, parse_mode=ParseMode.HTML)
            return REVENUE
        answers = context.chat_data["answers"] = {"revenue_yen": yen}
        buttons = [(f"quote.industry.{c}", self.label("industry", c)) for c in INDUSTRIES]
        await update.message.reply_text(
            self.render("quote/industry", answers=answers, answered=["revenue_yen"]),
            parse_mode=ParseMode.HTML,
            reply_markup=_keyboard(buttons),
        )
        return INDUSTRY

    async def industry(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        query = update.callback_query
        await query.answer()
        context.chat_data["answers"]["industry"] = query.data.rpartition(".")[2]
        context.chat_data["ticked"] = []
        await context.bot.send_message(
            update.effective_chat.id,
            self.render("quote/channels", pending=[], answered=["industry"]),
            parse_mode=ParseMode.HTML,
            reply_markup=self.channels_keyboard([]),
        )
        return CHANNEL

    async def channel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        query = update.callback_query
        await query.answer()
        code = query.data.split(".")[2]  # quotebot's buttons also carry a state and a version
        ticked = context.chat_data.setdefault("ticked", [])
        if code in ticked:
            ticked.remove(code)
        else:
            ticked.append(code)
        await query.edit_message_text(
            self.render("quote/channels", pending=ticked, answered=[]),
            parse_mode=ParseMode.HTML,
            reply_markup=self.channels_keyboard(ticked),
        )
        return CHANNEL

    async def done(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        query = update.callback_query
        await query.answer()
        answers, now = context.chat_data["answers"], self.clock()
        answers["channels"] = sorted(context.chat_data.pop("ticked", []), key=CHANNELS.index)
        request = QuoteRequest(
            revenue_yen=answers["revenue_yen"],
            industry=answers["industry"],
            channels=frozenset(answers["channels"]),
            applied_on=now.date(),
        )
        result = quote(self.rates, request).to_json()
        day = f"{now:%Y%m%d}"
        counters = context.bot_data.setdefault("counters", {})
        counters[day] = counters.get(day, 0) + 1
        ref = f"Q-{day}-{counters[day]:04d}"
        context.chat_data["last_quote"] = {"ref": ref, "quote": result}
        chat = update.effective_chat.id
        await context.bot.send_message(
            chat, self.render("quote/summary", q=result, ref=ref), parse_mode=ParseMode.HTML
        )
        buttons = [(f"quote.next.{c}", self.label("menu", c)) for c in NEXT]
        await context.bot.send_message(
            chat, self.render("quote/next"), parse_mode=ParseMode.HTML, reply_markup=_keyboard(buttons)
        )
        return MENU

    async def persist(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Durable forms: write the state after every update (group 1 runs after the dialog)."""
        await context.application.update_persistence()
        if context.application.persistence.on_flush:
            await context.application.persistence.flush()


def build_baseline(
    form: str,
    path: Path,
    texts: Texts,
    rates,
    clock: Callable[[], datetime],
    request: BaseRequest,
) -> Application:
    """The baseline bot in one of FORMS, its pickle at `path` (loaded at `initialize()`)."""
    if form not in FORMS:
        raise ValueError(f"no such baseline form {form!r}: {FORMS}")
    persistence_class = FsyncPicklePersistence if form == "fsync" else PicklePersistence
    persistence = persistence_class(path, on_flush=form == "fsync")  # update_interval: 60 s, PTB's default
    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(request)
        .get_updates_request(request)
        .persistence(persistence)
        .build()
    )
    bot = QuoteBot(texts, rates, clock)
    quote_command = CommandHandler("quote", bot.start)
    with warnings.catch_warnings():  # per_message=False with CallbackQueryHandlers: as intended here
        warnings.simplefilter("ignore")
        conversation = ConversationHandler(
            entry_points=[quote_command],
            states={
                REVENUE: [MessageHandler(filters.TEXT & ~filters.COMMAND, bot.revenue)],
                INDUSTRY: [CallbackQueryHandler(bot.industry, pattern=r"^quote\.industry\.")],
                CHANNEL: [
                    CallbackQueryHandler(bot.done, pattern=r"^quote\.channels\.done(\.v\d+)?$"),
                    CallbackQueryHandler(bot.channel, pattern=r"^quote\.channels\."),
                ],
                MENU: [],
            },
            fallbacks=[quote_command],
            allow_reentry=True,
            name=NAME,
            persistent=True,
        )
    application.add_handler(conversation)
    if form != "default":
        application.add_handler(TypeHandler(Update, bot.persist), group=1)
    return application


def prefill(path: Path, count: int, sample_quote: dict, first_chat: int) -> None:
    """A pickle as the bot leaves it after `count` chats each finished one quote (chats
    first_chat.., resting on the menu, their last quote kept), written straight with pickle."""
    chats = range(first_chat, first_chat + count)
    # Each chat its own objects (pickle would store one shared object once): copies by pickle.
    blob = pickle.dumps(
        {
            "answers": {
                "revenue_yen": sample_quote["revenue_yen"],
                "industry": sample_quote["industry"],
                "channels": list(sample_quote["channels"]),
            },
            "last_quote": {"ref": "", "quote": sample_quote},
        }
    )
    chat_data = {}
    for n, c in enumerate(chats):
        chat_data[c] = pickle.loads(blob)
        chat_data[c]["last_quote"]["ref"] = f"Q-20261101-{n:07d}"
    data = {
        "conversations": {NAME: {(c, c): MENU for c in chats}},
        "user_data": {c: {} for c in chats},
        "chat_data": chat_data,
        "bot_data": {"counters": {}},
        "callback_data": None,
    }
    with open(path, "wb") as file:
        pickle.dump(data, file, protocol=pickle.HIGHEST_PROTOCOL)
