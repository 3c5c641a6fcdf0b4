"""The LINE channel (line-bot-sdk v3, async): a webhook in, a sender out. The only module
family (bot/channels/line*) that imports `linebot`.

In: `POST /webhooks/line`. The `X-Line-Signature` is checked by the SDK's parser before the
body is read as JSON; a missing or bad one is refused (400/401) and nothing is processed. The
events become `Inbound`s and are committed to the inbox (`engine.accept`) before the 200 goes
back, so a crash after the 200 loses nothing; the inbox drops an event id it has seen (LINE
redelivers). A redelivered event's reply token is spent, so its answer goes by push. LINE's
"Verify" request (no events) gets 200. Other event types are logged and ignored.

    text message          → "text" (typed slash commands, numbers and labels work as anywhere)
    postback (a button)   → "tap" with the token; "cmd:<name>" (the rich menu) → "command" /<name>
    image, video, audio, file → "media" with the message id (relayed to staff during a hand-off)
    sticker, location     → "media" without a reference
    follow                → "command" /start: the greeting and the menu
    unfollow (blocked)    → remembered; nothing is pushed to that user until they follow again

Out: `LineSender.deliver(rows)` for one user: a turn's first messages (at most five, while
the reply token is fresh) go in one reply call; everything else by push, with an
`X-Line-Retry-Key` made from the outbox row, so a retried push is delivered once (409 counts as
sent). A user who blocked the bot is not pushed to.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    PushMessageRequest,
    ReplyMessageRequest,
)
from linebot.v3.webhooks import (
    AudioMessageContent,
    FileMessageContent,
    FollowEvent,
    ImageMessageContent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
    VideoMessageContent,
)

from bot import metrics
from bot.channels.line_render import (
    MAX_MESSAGES,
    card_of,
    multi_select_prefixes,
    render,
)
from bot.messages import Forward, Inbound, Key, Notice, Reply
from bot.outbox import GiveUp, OutboxRow, RetryLater
from bot.records import RecordFiles
from bot.settings import ConfigError

log = logging.getLogger(__name__)

CHANNEL = "line"
WEBHOOK_PATH = "/webhooks/line"
REPLY_TOKEN_SECONDS = 50.0  # LINE keeps a reply token about a minute; leave a margin
COMMAND_PREFIX = "cmd:"  # postback data of the rich menu's areas
PROFILE_SECONDS = 3.0
REPLY_ATTEMPT = "reply call under way"  # written on a row just before its reply call
RETRY_NAMESPACE = uuid.UUID("6f1c1f4e-6a55-4c1e-9a8e-3f1b2d0c7a11")
MEDIA = (ImageMessageContent, VideoMessageContent, AudioMessageContent, FileMessageContent)


@dataclass(frozen=True)
class LineSettings:
    channel_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    api_base_url: str | None = None  # None: LINE's own hosts (api.line.me, api-data.line.me)

    @property
    def secrets(self) -> tuple[str, str]:
        return (self.channel_secret, self.access_token)


def line_settings(env: Mapping[str, str]) -> LineSettings | None:
    """LINE is on when LINE_CHANNEL_SECRET is set; None when it is off. Errors name, never show."""
    secret = env.get("LINE_CHANNEL_SECRET", "").strip()
    token = env.get("LINE_CHANNEL_ACCESS_TOKEN", "").strip()
    base = env.get("LINE_API_BASE_URL", "").strip().rstrip("/") or None
    if not secret:
        if token:
            raise ConfigError(
                "LINE_CHANNEL_ACCESS_TOKEN is set but LINE_CHANNEL_SECRET is not: set both "
                "(Messaging API channel → Basic settings → Channel secret)"
            )
        if base:
            raise ConfigError("LINE_API_BASE_URL is set but LINE_CHANNEL_SECRET is not: LINE is off")
        return None
    if not token:
        raise ConfigError(
            "LINE_CHANNEL_SECRET is set but LINE_CHANNEL_ACCESS_TOKEN is not: issue a long-lived "
            "channel access token (Messaging API tab) and set it"
        )
    if base is not None:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("LINE_API_BASE_URL must be an address such as https://api.line.me")
    return LineSettings(secret, token, base)


def api_client(settings: LineSettings) -> AsyncApiClient:
    """The SDK's async client; `Configuration(host=...)` sends the API and the data API there."""
    config = Configuration(host=settings.api_base_url, access_token=settings.access_token)
    return AsyncApiClient(config)


# -- in -------------------------------------------------------------------------------------------


def to_inbound(event: Any, received: float) -> Inbound | None:
    """The engine's view of a LINE event from a user, or None for what we do not handle."""
    source = getattr(event, "source", None)
    user = getattr(source, "user_id", None)
    if getattr(source, "type", None) != "user" or not user:
        return None  # groups and rooms: the bot talks to people one to one
    redelivery = bool(getattr(getattr(event, "delivery_context", None), "is_redelivery", False))
    token = getattr(event, "reply_token", None)
    # A redelivered event's reply token was spent (or is stale): its answer goes by push.
    reply_ctx = {"reply_token": token, "received": received} if token and not redelivery else None
    common: dict[str, Any] = dict(
        conversation=Key(CHANNEL, user),
        event_id=f"line:{event.webhook_event_id}",
        reply_ctx=reply_ctx,
    )
    if isinstance(event, MessageEvent):
        message = event.message
        if isinstance(message, TextMessageContent):
            return Inbound(kind="text", text=message.text, **common)
        if isinstance(message, MEDIA):
            return Inbound(kind="media", ref=message.id, **common)
        return Inbound(kind="media", **common)  # a sticker, a location: nothing to relay
    if isinstance(event, PostbackEvent):
        data = event.postback.data or ""
        if data.startswith(COMMAND_PREFIX):
            return Inbound(kind="command", text="/" + data.removeprefix(COMMAND_PREFIX), **common)
        return Inbound(kind="tap", text=data, **common)
    if isinstance(event, FollowEvent):
        return Inbound(kind="command", text="/start", **common)
    return None


class LineChannel:
    """LINE's two halves: the webhook (in) and the sender (out), sharing one API client."""

    def __init__(self, engine: Any, settings: LineSettings, records: RecordFiles | None = None):
        self.engine, self.settings = engine, settings
        self.parser = WebhookParser(settings.channel_secret)
        self.profiles: dict[str, tuple[str | None, str | None]] = {}
        self.client = api_client(settings)
        self.api = AsyncMessagingApi(self.client)
        self.blob = AsyncMessagingApiBlob(self.client)
        self.sender = LineSender(self, records)
        engine.outbox.register(CHANNEL, self.sender)

    async def close(self) -> None:
        await self.client.close()

    async def webhook(self, request: web.Request) -> web.Response:
        """Signature first; then the events into the inbox; then, and only then, 200."""
        signature = request.headers.get("X-Line-Signature")
        body = await request.read()
        if not signature:
            metrics.received(CHANNEL, None, "unauthorized")
            log.warning("LINE webhook without a signature refused")
            return web.Response(status=400, text="missing X-Line-Signature")
        try:
            events = self.parser.parse(body.decode("utf-8"), signature)
        except (InvalidSignatureError, UnicodeDecodeError):
            metrics.received(CHANNEL, None, "unauthorized")
            log.warning("LINE webhook with a bad signature refused")
            return web.Response(status=401, text="bad signature")
        except (ValueError, KeyError, TypeError):
            metrics.received(CHANNEL, None, "unreadable", bytes=len(body))
            log.warning("LINE webhook: a signed body that is not an event list")
            return web.Response(status=400, text="bad body")
        received = time.time()
        inbounds = []
        for event in events:
            if isinstance(event, UnfollowEvent | FollowEvent):
                await self._mark_blocked(event, blocked=isinstance(event, UnfollowEvent))
            inbound = to_inbound(event, received)
            if inbound is not None:
                inbound = await self._with_profile(inbound, fresh=isinstance(event, FollowEvent))
            if inbound is None:
                if not isinstance(event, UnfollowEvent):
                    log.info("LINE event %s ignored", getattr(event, "type", type(event).__name__))
                continue
            inbounds.append(inbound)
        try:
            await self.engine.accept(inbounds)
        except Exception as e:
            metrics.received(CHANNEL, None, "failed", error=type(e).__name__)
            log.exception("could not commit LINE events; LINE will redeliver them")
            return web.Response(status=500, text="not stored")
        return web.Response(text="OK")

    async def _with_profile(self, inbound: Inbound, *, fresh: bool = False) -> Inbound:
        """The user's LINE name and language (an English phone gets English from the start; staff
        see who it is): asked once per user and process, again when they (re)follow."""
        user = inbound.conversation.id
        if fresh or user not in self.profiles:
            try:
                profile = await asyncio.wait_for(self.api.get_profile(user), PROFILE_SECONDS)
                self.profiles[user] = (profile.display_name, profile.language)
            except Exception as e:  # the answer matters more than the name
                log.info("LINE profile not available: %r", e)
                self.profiles[user] = (None, None)
        name, language = self.profiles[user]
        return replace(inbound, user_name=name, locale_hint=language)

    async def _mark_blocked(self, event: Any, *, blocked: bool) -> None:
        """Unfollow = the user blocked the bot: remember it (in the conversation's state) so
        nothing is pushed to them; follow = unblocked."""
        user = getattr(getattr(event, "source", None), "user_id", None)
        if not user:
            return
        key = Key(CHANNEL, user)
        async with self.engine.store.transaction() as tx:
            # With several workers a turn of this user may be running: its save would undo this.
            await tx.hold_conversation(key)
            row = await tx.load_conversation(key)
            if row is None and not blocked:
                return
            state = dict(row.state) if row is not None else _blank_state()
            if bool(state.get("line_blocked")) == blocked:
                return
            if blocked:
                state["line_blocked"] = True
            else:
                state.pop("line_blocked", None)
            await tx.save_conversation(key, state, self.engine.clock())
        log.info("LINE user %s", "blocked the bot" if blocked else "follows again")

    async def content(self, message_id: str) -> tuple[bytes, str]:
        """A user's photo, video, audio or file, from the data API (for the staff desk)."""
        response = await self.blob.get_message_content_with_http_info(message_id)
        content_type = _header(response.headers, "Content-Type") or "application/octet-stream"
        return bytes(response.data), content_type.split(";")[0]


def _blank_state() -> dict:
    from bot.state import new_state

    return new_state(None)


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    for key, value in dict(headers).items():
        if key.lower() == name.lower():
            return value
    return None


# -- out ------------------------------------------------------------------------------------------


def retry_key(row: OutboxRow, part: int = 0) -> str:
    """The same row always gets the same key, so LINE delivers a retried push once."""
    envelope = json.dumps(row.envelope.to_json(), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(envelope.encode()).hexdigest()[:16]
    return str(uuid.uuid5(RETRY_NAMESPACE, f"{row.id}:{part}:{digest}"))


class LineSender:
    """Sends one LINE user's outbox rows in order: by reply token while it is fresh, else push."""

    def __init__(self, channel: LineChannel, records: RecordFiles | None):
        self.channel, self.records = channel, records
        engine = channel.engine
        self.texts, self.store, self.clock = engine.texts, engine.store, engine.clock
        self.multi = multi_select_prefixes(engine.dialogs)
        self.used_tokens: dict[str, float] = {}  # tokens this process has used (or found spent)
        self.counts = {"reply": 0, "push": 0}  # calls made, for tests and logs

    async def deliver(self, rows: Sequence[OutboxRow]) -> None:
        key = rows[0].destination
        async with self.store.transaction() as tx:
            row = await tx.load_conversation(key)
        state = row.state if row is not None else {}
        lang, blocked = state.get("lang", "ja"), bool(state.get("line_blocked"))
        short = self.texts.labels(lang, "line")
        rendered = [(row, self.messages(row, lang, short)) for row in rows]
        self._forget_old_tokens()
        i = 0
        while i < len(rendered):
            row, messages = rendered[i]
            if not messages:  # an empty reply, a bare tap acknowledgement: nothing to show
                await row.sent()
                i += 1
                continue
            token = self._fresh_token(row)
            if token is not None:
                batch, count = [], 0
                for other, other_messages in rendered[i:]:
                    if not other_messages:
                        batch.append((other, other_messages))
                        continue
                    if self._token_of(other) != token or count + len(other_messages) > MAX_MESSAGES:
                        break
                    batch.append((other, other_messages))
                    count += len(other_messages)
                if await self._reply(token, row, [m for _, ms in batch for m in ms]):
                    for other, _ in batch:
                        await other.sent()
                    i += len(batch)
                    continue
                # The token was spent or too old: these rows go by push.
            if blocked:
                raise GiveUp("the user blocked the bot (unfollow)")
            await self._push(key.id, row, messages)
            await row.sent()
            i += 1

    def messages(self, row: OutboxRow, lang: str, short: Mapping[str, str]) -> list[dict]:
        body = row.body
        if isinstance(body, Reply):
            if not body.text.strip() and body.document is None:
                return []
            link = None
            if body.document is not None:
                if self.records is None:
                    raise GiveUp("no record server to serve a file on LINE")
                link = self.records.save(row.id, body.document.filename, body.document.content)
            return render(card_of(body, link), short, self.multi)
        if isinstance(body, Notice):  # LINE has no toast; a notice with words is a short message
            return [{"type": "text", "text": body.text}] if body.text.strip() else []
        if isinstance(body, Forward):  # a file staff sent: LINE cannot take it from Telegram
            text = self.texts.render(lang, "handoff/file_not_shown")
            return [{"type": "text", "text": text}]
        raise GiveUp(f"LINE cannot send {type(body).__name__}")

    def _token_of(self, row: OutboxRow) -> str | None:
        ctx = row.reply_ctx or {}
        return ctx.get("reply_token") if row.kind == "reply" else None

    def _fresh_token(self, row: OutboxRow) -> str | None:
        ctx = row.reply_ctx or {}
        token = self._token_of(row)
        if not token or token in self.used_tokens:
            return None
        if time.time() - float(ctx.get("received", 0)) > REPLY_TOKEN_SECONDS:
            return None
        return token

    def _forget_old_tokens(self) -> None:
        cutoff = time.time() - 3600
        for token in [t for t, at in self.used_tokens.items() if at < cutoff]:
            del self.used_tokens[token]

    async def _reply(self, token: str, first: OutboxRow, messages: list[dict]) -> bool:
        """True when LINE has them; False when the token is no good (then push instead).

        A reply has no retry key, so an attempt is written down (on the first row) before the
        call. If LINE then calls the token invalid although it is still inside its minute and
        the last attempt never came back (the process died during it), that attempt spent it:
        the messages went, and pushing them again would repeat them."""
        interrupted = first.record.last_error == REPLY_ATTEMPT
        received = float((first.reply_ctx or {}).get("received", 0))
        async with self.store.transaction() as tx:
            await tx.postpone(first.id, REPLY_ATTEMPT, self.clock())
        request = ReplyMessageRequest.from_dict({"replyToken": token, "messages": messages})
        try:
            await self.channel.api.reply_message_with_http_info(request)
        except ApiException as e:
            if e.status == 400 and "reply token" in str(e.body or "").lower():
                self.used_tokens[token] = time.time()
                if interrupted and time.time() - received < REPLY_TOKEN_SECONDS:
                    log.warning("LINE reply token spent by an interrupted attempt: counted as sent")
                    return True
                log.info("LINE reply token no longer valid; sending by push")
                return False
            if e.status is not None and e.status >= 500:  # it may have gone: say so for the retry
                raise RetryLater(None, REPLY_ATTEMPT) from None
            raise _translated(e) from None
        except Exception:  # the network: we do not know whether it went
            raise RetryLater(None, REPLY_ATTEMPT) from None
        self.used_tokens[token] = time.time()
        self.counts["reply"] += 1
        return True

    async def _push(self, user: str, row: OutboxRow, messages: list[dict]) -> None:
        for part, start in enumerate(range(0, len(messages), MAX_MESSAGES)):
            request = PushMessageRequest.from_dict(
                {"to": user, "messages": messages[start : start + MAX_MESSAGES]}
            )
            try:
                await self.channel.api.push_message_with_http_info(
                    request, x_line_retry_key=retry_key(row, part)
                )
            except ApiException as e:
                if e.status == 409:  # this very push was accepted before (a retry): it is sent
                    log.info("LINE push of outbox %s was already accepted", row.id)
                    continue
                raise _translated(e) from None
            except Exception as e:  # the network: the retry key makes trying again safe
                raise RetryLater(None, f"LINE push failed: {e!r}") from None
            self.counts["push"] += 1


def _translated(e: ApiException) -> Exception:
    # Tried again on the outbox's backoff (half a second, doubling to five minutes): a lost call
    # costs the merchant a moment, and a monthly message limit that lasts is not asked every minute.
    if e.status == 429:
        return RetryLater(None, "LINE rate limit or monthly message limit (429)")
    if e.status is not None and e.status >= 500:
        return RetryLater(None, f"LINE answered {e.status}")
    detail = ""
    with contextlib.suppress(ValueError, AttributeError):
        detail = json.loads(e.body or "{}").get("message", "")
    return GiveUp(f"LINE refused the message ({e.status}): {detail}"[:300])


# -- the web server part --------------------------------------------------------------------------


async def install(server: Any) -> bool:
    """`quotebot serve`: POST /webhooks/line and GET /records/{token}, when LINE is configured."""
    settings = line_settings(server.env)
    if settings is None:
        return False
    from bot.settings import redact

    redact(*settings.secrets)
    records = RecordFiles.beside(server, key=settings.channel_secret)

    async def running(_web: web.Application):
        channel = LineChannel(server.app.engine, settings, records)
        server.media_sources[CHANNEL] = channel.content
        holder["channel"] = channel
        try:
            yield
        finally:
            await channel.close()

    holder: dict[str, LineChannel] = {}

    async def webhook(request: web.Request) -> web.Response:
        channel = holder.get("channel")
        if channel is None:
            return web.Response(status=503, text="starting")
        return await channel.webhook(request)

    server.web.router.add_post(WEBHOOK_PATH, webhook)
    records.install(server)
    server.web.cleanup_ctx.append(running)
    return True
