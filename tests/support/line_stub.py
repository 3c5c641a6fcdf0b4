"""A local LINE Messaging API for tests: real HTTP (aiohttp), recorded calls, signed webhooks.

Point the bot at it with LINE_API_BASE_URL=stub.base_url (line-bot-sdk's `Configuration(host=...)`
sends both the API's and the data API's requests there), in this process or another one. It
behaves as LINE does where it matters to us: reply tokens are single use and expire; push
honours `X-Line-Retry-Key` (a repeat is refused with 409 and not delivered twice); the limits on
messages (5 a request, quick replies, label, postback and text lengths, Flex alt text) are
checked and a breach is a 400, as LINE answers; media content is served from the data API path;
rich menus can be created, given an image and made the default. Webhook events come from the
builders (`message`, `postback`, `follow`...) and are posted signed with the channel secret.
The server runs on its own event loop in a background thread, so sync and async tests can use it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, web

MAX_MESSAGES = 5
MAX_TEXT = 5000
MAX_QUICK_REPLY = 13
MAX_LABEL = 20
MAX_DATA = 300
MAX_DISPLAY_TEXT = 300
MAX_ALT_TEXT = 1500
MAX_RICH_MENU_IMAGE = 1024 * 1024


@dataclass
class Call:
    """One request the bot made, and what the stub answered."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]
    status: int = 200
    at: float = field(default_factory=time.monotonic)


@dataclass
class Delivered:
    """A message that reached a user: how (reply or push) and the message object as sent."""

    user: str
    message: dict
    via: str  # "reply" | "push"
    retry_key: str | None = None

    @property
    def text(self) -> str:
        """The text a person reads: a text message, or every text in a Flex message, and alt text."""
        if self.message.get("type") == "text":
            return self.message["text"]
        if self.message.get("type") == "flex":
            return "\n".join([self.message.get("altText", ""), *_flex_texts(self.message.get("contents"))])
        return ""

    @property
    def quick_replies(self) -> list[dict]:
        return [item["action"] for item in (self.message.get("quickReply") or {}).get("items", [])]

    @property
    def actions(self) -> list[dict]:
        """Every tappable action: quick replies and the buttons of a Flex message."""
        return self.quick_replies + list(_flex_actions(self.message.get("contents")))


def _flex_texts(node: Any):
    if isinstance(node, dict):
        if node.get("type") == "text" and "text" in node:
            yield node["text"]
        for value in node.values():
            yield from _flex_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _flex_texts(value)


def _flex_actions(node: Any):
    if isinstance(node, dict):
        if isinstance(node.get("action"), dict):
            yield node["action"]
        for key, value in node.items():
            if key != "action":
                yield from _flex_actions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _flex_actions(value)


class LimitError(ValueError):
    """A message LINE would refuse: the reason, as a 400 names it."""


def check_message(message: dict) -> None:
    """LINE's limits on one message object; raise LimitError for the first breach."""
    kind = message.get("type")
    if kind == "text":
        text = message.get("text", "")
        if not text or len(text) > MAX_TEXT:
            raise LimitError(f"text must be 1..{MAX_TEXT} characters, was {len(text)}")
    elif kind == "flex":
        alt = message.get("altText", "")
        if not alt or len(alt) > MAX_ALT_TEXT:
            raise LimitError(f"altText must be 1..{MAX_ALT_TEXT} characters, was {len(alt)}")
        contents = message.get("contents") or {}
        if contents.get("type") not in ("bubble", "carousel"):
            raise LimitError("flex contents must be a bubble or a carousel")
        if contents.get("type") == "carousel" and not 1 <= len(contents.get("contents", [])) <= 12:
            raise LimitError("a carousel holds 1..12 bubbles")
        if len(json.dumps(contents, ensure_ascii=False).encode()) > 30_000:
            raise LimitError("a flex bubble or carousel is at most 30 KB")
        for action in _flex_actions(contents):
            check_action(action, in_flex=True)
    elif kind in ("image", "sticker"):
        pass
    else:
        raise LimitError(f"unsupported message type {kind!r}")
    quick = message.get("quickReply")
    if quick is not None:
        items = quick.get("items", [])
        if not 1 <= len(items) <= MAX_QUICK_REPLY:
            raise LimitError(f"quickReply takes 1..{MAX_QUICK_REPLY} items, got {len(items)}")
        for item in items:
            check_action(item.get("action") or {}, in_flex=False)


def check_action(action: dict, *, in_flex: bool) -> None:
    label = action.get("label")
    if label is not None and len(label) > MAX_LABEL and not in_flex:
        raise LimitError(f"quick reply label over {MAX_LABEL} characters: {label!r}")
    if label is not None and len(label) > 40:  # Flex button labels are cut at 40 by the app
        raise LimitError(f"button label over 40 characters: {label!r}")
    if not in_flex and not label:
        raise LimitError("a quick reply needs a label")
    kind = action.get("type")
    if kind == "postback":
        data = action.get("data", "")
        if not data or len(data) > MAX_DATA:
            raise LimitError(f"postback data must be 1..{MAX_DATA} characters, was {len(data)}")
        if len(action.get("displayText", "")) > MAX_DISPLAY_TEXT:
            raise LimitError(f"displayText over {MAX_DISPLAY_TEXT} characters")
    elif kind == "message":
        if not 1 <= len(action.get("text", "")) <= MAX_DISPLAY_TEXT:
            raise LimitError("message action text must be 1..300 characters")
    elif kind == "uri":
        if not action.get("uri", "").startswith(("http://", "https://", "line://", "tel:")):
            raise LimitError("uri action needs an http(s), line or tel address")
    else:
        raise LimitError(f"unsupported action type {kind!r}")


class LineApiStub:
    """Serves the Messaging API on 127.0.0.1 from a background thread; one lock guards all state."""

    def __init__(
        self,
        channel_secret: str = "stub-channel-secret",
        access_token: str = "stub-access-token",
        *,
        reply_token_ttl: float = 60.0,
    ):
        self.channel_secret, self.access_token = channel_secret, access_token
        self.reply_token_ttl = reply_token_ttl
        self._cond = threading.Condition(threading.RLock())
        self._calls: list[Call] = []
        self._delivered: list[Delivered] = []
        self._reply_tokens: dict[str, tuple[str, float]] = {}  # token -> (user, expires at)
        self._retry_keys: dict[str, str] = {}  # key -> request id
        self._contents: dict[str, tuple[bytes, str]] = {}
        self._profiles: dict[str, dict] = {}
        self._rich_menus: dict[str, dict] = {}
        self.default_rich_menu: str | None = None
        self.blocked: set[str] = set()
        self._failures: list[tuple[str, int, dict, int]] = []  # (path prefix, status, body, times)
        self._lost_answers: list[list] = []
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), daemon=True, name="line-stub")
        self._thread.start()
        started.wait(10)
        self.base_url = f"http://127.0.0.1:{self.port}"

    # -- lifecycle --------------------------------------------------------------------------------

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        started.set()
        self._loop.run_forever()

    def close(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> LineApiStub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what tests set up ------------------------------------------------------------------------

    def add_user(self, user: str, name: str = "テスト 太郎", language: str | None = "ja") -> None:
        with self._cond:
            self._profiles[user] = {"userId": user, "displayName": name, "language": language}

    def add_content(self, message_id: str, content: bytes, content_type: str = "image/jpeg") -> None:
        with self._cond:
            self._contents[message_id] = (content, content_type)

    def fail_next(
        self, path_prefix: str, status: int = 500, body: dict | None = None, times: int = 1
    ) -> None:
        """The next `times` requests whose path starts with this fail with `status`."""
        with self._cond:
            self._failures.append((path_prefix, status, body or {"message": "stub failure"}, times))

    def lose_answer_next(self, path_prefix: str, times: int = 1) -> None:
        """The next `times` such requests are carried out, but the answer is lost (a 500 goes
        back instead): the bot cannot know the message went, as after a timeout."""
        with self._cond:
            self._lost_answers.append([path_prefix, times])

    def expire_reply_tokens(self) -> None:
        """Every reply token issued so far is now too old (a slow turn)."""
        with self._cond:
            self._reply_tokens = {t: (u, 0.0) for t, (u, _) in self._reply_tokens.items()}

    # -- what tests read --------------------------------------------------------------------------

    def calls(self, path_prefix: str = "") -> list[Call]:
        with self._cond:
            return [c for c in self._calls if c.path.startswith(path_prefix)]

    def delivered(self, user: str | None = None) -> list[Delivered]:
        with self._cond:
            return [d for d in self._delivered if user is None or d.user == user]

    def texts(self, user: str) -> list[str]:
        return [d.text for d in self.delivered(user)]

    def rich_menu(self, menu_id: str) -> dict:
        with self._cond:
            return self._rich_menus[menu_id]

    def wait_for(self, predicate: Callable[[LineApiStub], Any], timeout: float = 10.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate(self)
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what or predicate}: {self._summary()}")
                self._cond.wait(min(left, 0.2))

    def wait_for_delivered(self, user: str, count: int, timeout: float = 10.0) -> list[Delivered]:
        return self.wait_for(
            lambda s: d if len(d := s.delivered(user)) >= count else None,
            timeout,
            f"{count} message(s) to {user}",
        )

    async def async_wait_for(self, predicate: Callable, timeout: float = 10.0, what: str = "") -> Any:
        return await asyncio.to_thread(self.wait_for, predicate, timeout, what)

    async def async_wait_for_delivered(self, user: str, count: int, timeout: float = 10.0) -> list:
        return await asyncio.to_thread(self.wait_for_delivered, user, count, timeout)

    def _summary(self) -> str:
        lines = [f"{d.via} to {d.user}: {d.text[:60]!r}" for d in self._delivered[-8:]]
        errors = [f"{c.status} {c.path}" for c in self._calls if c.status >= 400][-5:]
        return "; ".join(lines + errors) or "nothing delivered"

    # -- webhook events ---------------------------------------------------------------------------

    def _event(self, kind: str, user: str, *, reply: bool = True, redelivery: bool = False, **extra) -> dict:
        n = next(self._ids)
        event = {
            "type": kind,
            "mode": "active",
            "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": user},
            "webhookEventId": f"01STUB{n:020d}",
            "deliveryContext": {"isRedelivery": redelivery},
            **extra,
        }
        if reply:
            token = f"rt{n:06d}" + hashlib.sha256(str(n).encode()).hexdigest()[:24]
            with self._cond:
                self._reply_tokens[token] = (user, time.monotonic() + self.reply_token_ttl)
            event["replyToken"] = token
        return event

    def message(self, user: str, text: str, **options) -> dict:
        n = next(self._ids)
        return self._event(
            "message",
            user,
            message={"type": "text", "id": f"{n:018d}", "text": text, "quoteToken": f"q{n}"},
            **options,
        )

    def image(self, user: str, content: bytes, content_type: str = "image/jpeg", **options) -> dict:
        n = next(self._ids)
        message_id = f"{n:018d}"
        self.add_content(message_id, content, content_type)
        body = {"type": "image", "id": message_id, "contentProvider": {"type": "line"}, "quoteToken": f"q{n}"}
        return self._event("message", user, message=body, **options)

    def sticker(self, user: str, **options) -> dict:
        n = next(self._ids)
        body = {
            "type": "sticker",
            "id": f"{n:018d}",
            "packageId": "446",
            "stickerId": "1988",
            "stickerResourceType": "STATIC",
        }
        return self._event("message", user, message=body, **options)

    def postback(self, user: str, data: str, **options) -> dict:
        return self._event("postback", user, postback={"data": data}, **options)

    def follow(self, user: str, **options) -> dict:
        return self._event("follow", user, follow={"isUnblocked": False}, **options)

    def unfollow(self, user: str) -> dict:
        with self._cond:
            self.blocked.add(user)
        return self._event("unfollow", user, reply=False)

    def redelivered(self, event: dict) -> dict:
        """The same event as LINE sends it again: same id, isRedelivery, its reply token spent."""
        again = json.loads(json.dumps(event))
        again["deliveryContext"] = {"isRedelivery": True}
        return again

    def body(self, events: list[dict], destination: str = "Ubotdestination0000000000000000000") -> bytes:
        return json.dumps({"destination": destination, "events": events}, ensure_ascii=False).encode()

    def sign(self, body: bytes) -> str:
        return base64.b64encode(
            hmac.new(self.channel_secret.encode(), body, hashlib.sha256).digest()
        ).decode()

    def post_webhook(
        self, url: str, events: list[dict], *, signature: str | None = "", body: bytes | None = None
    ) -> tuple[int, str]:
        """POST events to the bot as LINE does (signature "" = the right one, None = no header)."""
        body = self.body(events) if body is None else body
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Line-Signature"] = signature or self.sign(body)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    async def apost_webhook(
        self, url: str, events: list[dict], *, signature: str | None = "", body: bytes | None = None
    ) -> tuple[int, str]:
        body = self.body(events) if body is None else body
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Line-Signature"] = signature or self.sign(body)
        async with ClientSession() as http, http.post(url, data=body, headers=headers) as response:
            return response.status, await response.text()

    # -- the API ----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw and request.content_type == "application/json" else raw
        except ValueError:
            body = raw
        call = Call(request.method, request.path, body, dict(request.headers))
        status, payload, headers = self._answer(request.method, request.path, body, request.headers)
        call.status = status
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()
        if isinstance(payload, tuple):  # content: (bytes, content type)
            return web.Response(status=status, body=payload[0], content_type=payload[1], headers=headers)
        return web.json_response(payload, status=status, headers=headers)

    def _answer(self, method: str, path: str, body: Any, headers) -> tuple[int, Any, dict]:
        if headers.get("Authorization") != f"Bearer {self.access_token}":
            return 401, {"message": "Authentication failed. Confirm that the access token is valid."}, {}
        with self._cond:
            for n, (prefix, status, failure, times) in enumerate(self._failures):
                if path.startswith(prefix):
                    if times <= 1:
                        self._failures.pop(n)
                    else:
                        self._failures[n] = (prefix, status, failure, times - 1)
                    return status, failure, {}
            try:
                answer = self._route(method, path, body, headers)
                for lost in self._lost_answers:
                    if path.startswith(lost[0]) and lost[1] > 0:
                        lost[1] -= 1
                        return 500, {"message": "stub: done, but the answer was lost"}, {}
                return answer
            except LimitError as e:
                return (
                    400,
                    {"message": "The request body has 1 error(s)", "details": [{"message": str(e)}]},
                    {},
                )

    def _route(self, method: str, path: str, body: Any, headers) -> tuple[int, Any, dict]:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v2/bot/message/reply":
            return self._reply(body)
        if method == "POST" and path == "/v2/bot/message/push":
            return self._push(body, headers.get("X-Line-Retry-Key"))
        if method == "GET" and parts[:3] == ["v2", "bot", "message"] and parts[-1] == "content":
            found = self._contents.get(parts[3])
            return (200, found, {}) if found else (404, {"message": "Not found"}, {})
        if method == "GET" and parts[:3] == ["v2", "bot", "profile"]:
            profile = self._profiles.get(parts[3])
            return (200, profile, {}) if profile else (404, {"message": "Not found"}, {})
        if method == "POST" and path == "/v2/bot/chat/loading/start":
            return 202, {}, {}
        if method == "POST" and path == "/v2/bot/richmenu":
            return self._create_rich_menu(body)
        if method == "POST" and parts[:3] == ["v2", "bot", "richmenu"] and parts[-1] == "content":
            return self._rich_menu_image(parts[3], body, headers.get("Content-Type", ""))
        if method == "GET" and path == "/v2/bot/richmenu/list":
            return (
                200,
                {"richmenus": [{"richMenuId": k, **v["menu"]} for k, v in self._rich_menus.items()]},
                {},
            )
        if method == "DELETE" and parts[:3] == ["v2", "bot", "richmenu"] and len(parts) == 4:
            if self._rich_menus.pop(parts[3], None) is None:
                return 404, {"message": "Not found"}, {}
            if self.default_rich_menu == parts[3]:
                self.default_rich_menu = None
            return 200, {}, {}
        if method == "POST" and parts[:5] == ["v2", "bot", "user", "all", "richmenu"] and len(parts) == 6:
            menu = self._rich_menus.get(parts[5])
            if menu is None or menu.get("image") is None:
                return 400, {"message": "must upload richmenu image before applying it to user"}, {}
            self.default_rich_menu = parts[5]
            return 200, {}, {}
        if method == "GET" and path == "/v2/bot/user/all/richmenu":
            if self.default_rich_menu is None:
                return 404, {"message": "no default richmenu"}, {}
            return 200, {"richMenuId": self.default_rich_menu}, {}
        return 404, {"message": f"stub has no {method} {path}"}, {}

    def _check_messages(self, messages: Any) -> list[dict]:
        if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
            raise LimitError(f"messages must hold 1..{MAX_MESSAGES} messages")
        for message in messages:
            check_message(message)
        return messages

    def _reply(self, body: dict) -> tuple[int, Any, dict]:
        token = body.get("replyToken", "")
        messages = self._check_messages(body.get("messages"))
        user, expires = self._reply_tokens.pop(token, (None, 0.0))
        if user is None or time.monotonic() > expires:
            return 400, {"message": "Invalid reply token"}, {}
        return self._deliver(user, messages, "reply", None)

    def _push(self, body: dict, retry_key: str | None) -> tuple[int, Any, dict]:
        user = body.get("to", "")
        messages = self._check_messages(body.get("messages"))
        if retry_key is not None:
            accepted = self._retry_keys.get(retry_key)
            if accepted is not None:
                message = "The retry key is already accepted"
                return 409, {"message": message}, {"x-line-accepted-request-id": accepted}
            self._retry_keys[retry_key] = f"req-{next(self._ids)}"
        if not user.startswith("U"):
            return 400, {"message": "The property, 'to', in the request body is invalid"}, {}
        return self._deliver(user, messages, "push", retry_key)

    def _deliver(
        self, user: str, messages: list[dict], via: str, retry_key: str | None
    ) -> tuple[int, Any, dict]:
        sent = []
        for message in messages:
            if user not in self.blocked:  # LINE takes it, but a user who blocked us never sees it
                self._delivered.append(Delivered(user, message, via, retry_key))
            sent.append({"id": str(next(self._ids)), "quoteToken": f"q{next(self._ids)}"})
        return 200, {"sentMessages": sent}, {"x-line-request-id": f"req-{next(self._ids)}"}

    def _create_rich_menu(self, body: dict) -> tuple[int, Any, dict]:
        size = body.get("size") or {}
        if size.get("width") not in (800, 1200, 2500) or not 250 <= size.get("height", 0) <= 1686:
            raise LimitError("rich menu size must be 2500x1686-like (width 800..2500, height ≥250)")
        areas = body.get("areas") or []
        if not 1 <= len(areas) <= 20:
            raise LimitError("a rich menu has 1..20 areas")
        for area in areas:
            check_action(area.get("action") or {}, in_flex=True)
        if not body.get("chatBarText") or len(body["chatBarText"]) > 14:
            raise LimitError("chatBarText must be 1..14 characters")
        menu_id = f"richmenu-{next(self._ids):032x}"
        self._rich_menus[menu_id] = {"menu": body, "image": None}
        return 200, {"richMenuId": menu_id}, {}

    def _rich_menu_image(self, menu_id: str, body: Any, content_type: str) -> tuple[int, Any, dict]:
        menu = self._rich_menus.get(menu_id)
        if menu is None:
            return 404, {"message": "Not found"}, {}
        if content_type.split(";")[0] not in ("image/png", "image/jpeg"):
            return 415, {"message": "Unsupported Media Type"}, {}
        if not isinstance(body, bytes | bytearray) or len(body) > MAX_RICH_MENU_IMAGE:
            return 400, {"message": "image is too large (max 1 MB)"}, {}
        menu["image"] = (bytes(body), content_type)
        return 200, {}, {}
