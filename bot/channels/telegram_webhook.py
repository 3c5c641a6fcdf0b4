"""Telegram updates by webhook: `POST /webhooks/telegram` on the `quotebot serve` server.

PTB's own `run_webhook` answers Telegram before anything is stored, so a crash after its 200
loses the update. This route answers only after `accept` returned, and `accept` returns only
once the update is committed to the store's inbox (the engine's `accept`); the turn runs after
the answer. A redelivery (Telegram retries anything that was not answered 2xx) is recognised
by its update_id in the inbox, not by "the highest id so far": an update refused once may come
back after later ones were accepted.

The `X-Telegram-Bot-Api-Secret-Token` header must equal the secret given to setWebhook,
compared in constant time; a request without it gets 401 and is not read at all, so it leaves
nothing behind: the same update sent later with the right secret is processed as new.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

from aiohttp import web
from telegram.error import TelegramError

from bot import metrics
from bot.settings import ConfigError

log = logging.getLogger(__name__)

PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# What the bot reads; Telegram sends nothing else (edits, reactions, chat members...).
ALLOWED_UPDATES = ("message", "callback_query")
_SECRET_CHARS = re.compile(r"[A-Za-z0-9_-]{1,256}")
# A Telegram update is at most a few KB (4096 characters of text, entities, a reply); a body
# this large is not one.
MAX_BODY = 1 << 20

# accept(update) → what became of it ("accepted", "duplicate", "ignored"); raises if it could not
# be committed, and then Telegram gets a 500 and sends it again.
Accept = Callable[[dict], Awaitable[str]]


def webhook_settings(env: Mapping[str, str]) -> tuple[str, str] | None:
    """(public URL of the route, secret) when TELEGRAM_WEBHOOK_SECRET is set, else None (polling)."""
    secret = env.get("TELEGRAM_WEBHOOK_SECRET", "").strip()
    if not secret:
        return None
    if not _SECRET_CHARS.fullmatch(secret):
        raise ConfigError(
            "TELEGRAM_WEBHOOK_SECRET must be 1 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)"
        )
    if len(secret) < 16:
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET is too short to be a secret: use 16 characters or more")
    public = env.get("QUOTEBOT_PUBLIC_URL", "").strip().rstrip("/")
    parts = urlsplit(public)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            "QUOTEBOT_PUBLIC_URL must be the server's public address, e.g. https://bot.example.jp "
            "(needed with TELEGRAM_WEBHOOK_SECRET)"
        )
    return public + PATH, secret


class TelegramWebhook:
    """The route: check the secret, read the update, have it committed, answer."""

    def __init__(self, secret: str, accept: Accept):
        self._secret = secret.encode()
        self._accept = accept

    def register(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            metrics.received("telegram", None, "unauthorized")
            return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
        if (request.content_length or 0) > MAX_BODY:
            metrics.received("telegram", None, "too_large", bytes=request.content_length)
            return web.json_response({"ok": False, "error": "too large"}, status=413)
        body = await request.read()
        try:
            update = json.loads(body)
        except ValueError as e:
            # Never the body itself in the log: it is what a user typed.
            metrics.received("telegram", None, "unreadable", bytes=len(body), error=type(e).__name__)
            return web.json_response({"ok": False, "error": "not JSON"}, status=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            metrics.received("telegram", None, "unreadable", bytes=len(body), error="no update_id")
            return web.json_response({"ok": False, "error": "not an update"}, status=400)
        started = time.perf_counter()
        try:
            outcome = await self._accept(update)
        except Exception as e:
            # Not committed: Telegram will send it again. The exception's text may quote the
            # update, so only its type is logged.
            log.error("telegram update %s not accepted: %s", update["update_id"], type(e).__name__)
            metrics.received("telegram", None, "failed", error=type(e).__name__)
            return web.json_response({"ok": False, "error": "try again"}, status=500)
        if outcome == "ignored":  # accepted and duplicate ones are counted by the engine's accept
            ms = round((time.perf_counter() - started) * 1000, 1)
            metrics.received("telegram", _chat_key(update), outcome, update_id=update["update_id"], ms=ms)
        return web.json_response({"ok": True})


def _chat_key(update: dict) -> str | None:
    """The conversation an update belongs to, for the log line's hash (None if it has no chat)."""
    for field in ("message", "edited_message", "channel_post"):
        chat = (update.get(field) or {}).get("chat") or {}
        if "id" in chat:
            return f"telegram:{chat['id']}"
    query = update.get("callback_query") or {}
    chat = ((query.get("message") or {}).get("chat")) or {}
    if "id" in chat:
        return f"telegram:{chat['id']}"
    return None


async def set_webhook(bot, url: str, secret: str) -> None:
    """Tell Telegram where to send updates, with the secret it must send back."""
    try:
        await bot.set_webhook(url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES))
    except TelegramError as e:  # e.g. "An HTTPS URL must be provided for webhook"
        raise ConfigError(f"Telegram refused the webhook {url}: {e.message}") from None
    log.info("telegram: webhook set to %s", url)
