"""The `quotebot` command: quote and rates for staff and scripts, chat and telegram to run the bot.

Errors are one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from bot.app import configure_logging, open_app
from bot.markup import to_plain
from bot.settings import DEFAULT_DB, ConfigError, Settings
from bot.store import StoreError, purge_in_batches
from bot.texts import DEFAULT_LOCALE, LOCALES, Texts
from rates.amounts import AmountError, parse_yen
from rates.codes import CHANNELS, INDUSTRIES
from rates.coverage import JST
from rates.pricing import QuoteRequest, quote
from rates.tables import RateTableError, load_rates

log = logging.getLogger("bot.telegram")


class UsageError(Exception):
    """Bad command-line input; the message is already in the user's language."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage over several lines; we promise one
        raise UsageError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="quotebot", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    q = commands.add_parser("quote", help="price a merchant from the published tables")
    q.add_argument(
        "--revenue",
        required=True,
        help="annual revenue as people type it, e.g. 300,000,000 or 1.2 billion (Japanese units too)",
    )
    q.add_argument("--industry", required=True, help="one of: " + ", ".join(INDUSTRIES))
    q.add_argument("--channels", required=True, help="comma-separated: " + ", ".join(CHANNELS))
    q.add_argument("--date", help="application date YYYY-MM-DD (default: today in Asia/Tokyo)")
    q.add_argument("--lang", choices=LOCALES, default=DEFAULT_LOCALE)
    q.add_argument("--json", action="store_true", help="one JSON object instead of text")

    r = commands.add_parser("rates", help="list the loaded rate tables")
    r.add_argument("--lang", choices=LOCALES, default=DEFAULT_LOCALE)

    c = commands.add_parser("chat", help="chat with the bot in this terminal (no account needed)")
    c.add_argument("--db", help=f"SQLite file (default: $QUOTEBOT_DB or {DEFAULT_DB})")
    c.add_argument("--user", default="local", help="who is chatting: each user has their own conversation")

    p = commands.add_parser("purge", help="forget conversations untouched for --days (default 365)")
    p.add_argument("--db", help=f"SQLite file (default: $QUOTEBOT_DB or {DEFAULT_DB})")
    p.add_argument(
        "--days", type=int, default=None, help="retention in days (default: $QUOTEBOT_RETENTION_DAYS or 365)"
    )

    t = commands.add_parser("telegram", help="run the bot on Telegram (long polling)")
    t.add_argument("--db", help=f"SQLite file (default: $QUOTEBOT_DB or {DEFAULT_DB})")

    s = commands.add_parser(
        "serve", help="run the web server ($QUOTEBOT_LISTEN): LINE webhooks, Telegram when its token is set"
    )
    s.add_argument("--db", help=f"SQLite file (default: $QUOTEBOT_DB or {DEFAULT_DB})")

    h = commands.add_parser(
        "health", help="ask the running server ($QUOTEBOT_LISTEN) for /healthz; exit 0 when healthy, 1 if not"
    )
    h.add_argument("--timeout", type=float, default=4.0, help="seconds to wait for the answer (default 4)")

    commands.add_parser(
        "line-setup", help="set the default LINE rich menu (quote, incident 24h, staff, help) with its image"
    )
    return parser


def _request(args, texts: Texts) -> QuoteRequest:
    def fail(key: str, **params) -> UsageError:
        return UsageError(to_plain(texts.render(args.lang, key, **params)).replace("\n", " "))

    try:
        revenue = parse_yen(args.revenue)
    except AmountError as e:
        raise fail("common/amount_error", code=e.code, fragment=e.fragment) from None
    industry = args.industry.strip().lower()  # codes are case-insensitive: RETAIL = retail
    if industry not in INDUSTRIES:
        raise fail("cli/bad_code", option="--industry", value=args.industry, allowed=INDUSTRIES)
    channels = [c.strip().lower() for c in args.channels.split(",") if c.strip()]
    for channel in channels or [""]:
        if channel not in CHANNELS:
            raise fail("cli/bad_code", option="--channels", value=channel, allowed=CHANNELS)
    try:
        applied_on = date.fromisoformat(args.date) if args.date else datetime.now(JST).date()
    except ValueError:
        raise fail("cli/bad_date", value=args.date) from None
    return QuoteRequest(revenue, industry, frozenset(channels), applied_on)


def _warn_outside_effective_period(args, texts: Texts, book, result) -> None:
    """A --date before a quoted table takes effect gets a warning on stderr (the quote still prints)."""
    applied_on = result.request.applied_on
    quoted = {o.product for o in result.offers} | {r.product for r in result.referrals}
    for table in book.products:
        if table.product in quoted and table.effective_date and applied_on < table.effective_date:
            warning = texts.render(
                args.lang,
                "cli/date_warning",
                product=table.product,
                date=applied_on,
                since=table.effective_date,
            )
            print(to_plain(warning).replace("\n", " "), file=sys.stderr)


def _quote(args, texts: Texts) -> str:
    book = load_rates()
    result = quote(book, _request(args, texts))
    _warn_outside_effective_period(args, texts, book, result)
    if args.json:
        return json.dumps(result.to_json(), ensure_ascii=False, indent=2)
    return to_plain(texts.render(args.lang, "quote/result", q=result.to_json(), ref=None))


def _rates(args, texts: Texts) -> str:
    book = load_rates()
    return to_plain(texts.render(args.lang, "cli/rates", tables=book.products, declines=book.declines))


async def _chat(args) -> None:
    from bot.channels.console import run_console

    app = await open_app(args.db)
    try:
        if sys.stdin.isatty():  # print reminders and staff answers when they fall due
            await app.start()
        await run_console(app.engine, user=args.user, exports=app.exports)
    finally:
        await app.close()


async def _purge(args) -> str:
    if args.days is not None and args.days < 1:
        raise UsageError("quotebot purge: --days must be 1 or more")
    target = Settings.from_env(os.environ, args.db).db
    local = not target.startswith(("postgresql://", "postgres://")) and target != ":memory:"
    if local and not Path(target.removeprefix("sqlite:///")).is_file():  # never a new empty file
        raise UsageError(f"quotebot purge: no database at {target}")
    app = await open_app(args.db)
    keep = app.settings.retention if args.days is None else timedelta(days=args.days)
    try:
        # In batches, like the bot's own daily purge: a bot running on the same file meanwhile
        # waits for one small transaction at a time, not for the whole purge.
        counts = await purge_in_batches(app.store, app.engine.clock(), keep)
    finally:
        await app.close()
    return " ".join(f"{table}={n}" for table, n in counts.items())


async def _telegram(args) -> None:
    """Long-poll Telegram until SIGINT or SIGTERM, then stop cleanly."""
    # Not telegram_webhook (aiohttp's server, ~0.13 s of every restart): polling needs none of it.
    from bot.channels.telegram import TelegramChannel, drop_webhook, make_bot, start_bot

    settings = Settings.from_env(os.environ, args.db)
    telegram = settings.telegram()  # no token: one line and exit 2, before anything starts
    configure_logging(settings.secrets)
    app = await open_app(args.db)
    bot = make_bot(telegram.token, telegram.base_url)
    channel = TelegramChannel(app.engine, bot, telegram.staff_chat_id, limits=telegram.limits)
    try:
        await start_bot(bot, telegram.base_url)  # wrong token, no network: one line, exit 2
        await drop_webhook(bot)  # getUpdates is refused while a webhook is set: delete it, say so
        await channel.register_commands()
        log.info("polling %s as @%s", telegram.base_url, bot.username)
        await app.run_until_stopped(channel.poll)
    finally:
        await app.close()
        await bot.shutdown()


async def _serve(args) -> None:
    from bot.channels.telegram_webhook import webhook_settings
    from bot.web import serve

    settings = Settings.from_env(os.environ, args.db)
    hook = webhook_settings(os.environ)  # a bad secret or address: one line, exit 2, before anything
    secrets = [*settings.secrets, *(hook[1:] if hook else ())]
    secrets += [os.environ.get(name, "") for name in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN")]
    configure_logging(secrets)
    await serve(os.environ, db_path=args.db)


def _health(args) -> int:
    """The Docker HEALTHCHECK: GET /healthz on the listen address; its one line, and 0 or 1."""
    import urllib.error
    import urllib.request

    from bot.web import web_settings

    settings = web_settings(os.environ)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{settings.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            print(response.read().decode().strip())
            return 0
    except urllib.error.HTTPError as e:
        print(e.read().decode(errors="replace").strip() or f"HTTP {e.code}")
        return 1
    except OSError as e:
        print(f"quotebot health: no answer from {url} ({type(e).__name__})", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        texts = Texts()
        if args.command == "quote":
            print(_quote(args, texts))
        elif args.command == "rates":
            print(_rates(args, texts))
        elif args.command == "chat":
            asyncio.run(_chat(args))
        elif args.command == "purge":
            print(asyncio.run(_purge(args)))
        elif args.command == "telegram":
            asyncio.run(_telegram(args))
        elif args.command == "health":
            return _health(args)
        elif args.command == "serve":
            asyncio.run(_serve(args))
        elif args.command == "line-setup":
            from bot.channels.line_setup import set_up

            print(f"default rich menu set: {asyncio.run(set_up(os.environ, texts))}")
        return 0
    except (UsageError, RateTableError, StoreError, ConfigError) as e:
        print(str(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
