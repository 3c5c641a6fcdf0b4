"""A local Telegram Bot API server for tests: real HTTP, recorded calls, injected updates.

Point PTB at it with ``ApplicationBuilder().base_url(stub.base_url)``, in this process or (via
TELEGRAM_API_BASE_URL) in another one. Requests arrive the way PTB sends them: form fields whose
non-string values are JSON-encoded, or multipart/form-data when a file is uploaded. What each
method does lives in botapi_world; this module owns HTTP, the update queue, recording and waiting.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .botapi_world import THREAD_NOT_FOUND, ApiError, Sent, World, commands_key

CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active;"
    " use deleteWebhook to delete the webhook first"
)
# PTB sends str values as they are, so "123" or "true" in these must not be JSON-decoded.
_STRING_PARAMS = frozenset(
    {"text", "caption", "parse_mode", "name", "icon_custom_emoji_id", "callback_query_id"}
    | {"inline_message_id", "file_id", "url", "action", "title", "description", "emoji"}
    | {"language_code", "secret_token", "document", "photo", "voice", "audio", "video"}
)
_DEFAULT_ERRORS = {400: THREAD_NOT_FOUND, 403: "Forbidden: bot was blocked by the user"}

__all__ = ["ApiError", "BotApiStub", "Call", "Faults", "FloodControl", "Sent"]

# What a fault may hit: the calls that change what a user or staff sees (getUpdates, getMe and
# setMyCommands are left alone, so a bot can always start and poll).
SEND_METHODS = frozenset(
    {"sendmessage", "editmessagetext", "editmessagereplymarkup", "answercallbackquery"}
    | {"senddocument", "sendphoto", "sendvoice", "copymessage", "forwardmessage", "deletemessage"}
    | {"createforumtopic", "closeforumtopic", "reopenforumtopic", "editforumtopic"}
)
FAULT_KINDS = ("429", "5xx", "hang", "late")


@dataclass
class Call:
    """One request the bot made; ``error`` is the description when the answer was ok=false."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]]
    at: float
    error: str | None = None
    fault: str | None = None  # what Faults did to it: "429", "5xx", "hang", "late"
    result: Any = field(default=None, repr=False)  # what a successful call returned
    via: str | None = None  # the name in the caller's base URL (`via_base_url`): which process called


@dataclass(frozen=True)
class Faults:
    """Chaos for the stub: a share of calls fail, hang, or succeed only after the client gave up.

    Each decision is a pure function of (seed, method, chat, how many such calls came before),
    so a run with the same seed and the same calls meets the same faults, whatever the threads
    do. ``hang`` should exceed the client's read timeout (PTB's default is 5 s); a "hang" does
    nothing and answers 504 afterwards, a "late" one does the call, then answers after ``hang``.
    ``redeliver`` is the share of getUpdates answers that ignore the offset (the batch comes again,
    as when Telegram lost the confirmation).
    """

    seed: int = 0
    rate: float = 0.2
    kinds: tuple[str, ...] = FAULT_KINDS
    retry_after: int = 1
    hang: float = 5.5
    redeliver: float = 0.0
    methods: frozenset[str] = SEND_METHODS

    def draw(self, method: str, chat: object, n: int) -> str | None:
        if method.lower() not in self.methods or not self.kinds:
            return None
        roll = random.Random(f"{self.seed}:{method.lower()}:{chat}:{n}")
        return roll.choice(self.kinds) if roll.random() < self.rate else None

    def redelivers(self, poll: int) -> bool:
        return self.redeliver > 0 and random.Random(f"{self.seed}:poll:{poll}").random() < self.redeliver


# What Telegram's flood control counts as a message (a tap's answer, getUpdates... are not).
MESSAGE_METHODS = frozenset(
    {"sendmessage", "editmessagetext", "editmessagereplymarkup", "senddocument", "sendphoto"}
    | {"sendvoice", "copymessage", "forwardmessage", "createforumtopic", "closeforumtopic"}
    | {"reopenforumtopic"}
)


@dataclass(frozen=True)
class FloodControl:
    """Telegram's documented limits (Bot FAQ, "My bot is hitting limits"), answered as Telegram
    does, with 429 and retry_after: more than ``per_second`` messages in any second for the bot,
    or ``per_group_minute`` in any minute to one group (chat_id < 0). Counted by the stub's
    clock when each call arrives; refused calls do not count. Per private chat Telegram only
    says "avoid more than one a second" and allows bursts: not enforced here."""

    per_second: int = 30
    per_group_minute: int = 20
    methods: frozenset[str] = MESSAGE_METHODS
    clock: Callable[[], float] = time.time  # seconds; tests of the stub itself inject one


@dataclass
class _Failure:
    method: str
    error: ApiError
    times: int
    when: Callable[[dict], bool] | None


@dataclass
class _Pending:
    update: dict
    delivered: bool = False


class BotApiStub:
    """Serves the Bot API on 127.0.0.1 from a background thread; one lock guards all state."""

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        max_poll_wait: float = 5.0,
        faults: Faults | None = None,
        webhook_delivery: bool = True,
        flood: FloodControl | None = None,
        backlog: int | None = None,
    ):
        self.token, self.max_poll_wait = token, max_poll_wait
        # False: setWebhook is recorded but nothing is POSTed; the test posts each update to
        # the worker it chooses (several `quotebot serve` processes behind one address).
        self.webhook_delivery = webhook_delivery
        self.faults = faults  # None: every call is answered at once and truthfully
        self.flood = flood  # None: no rate limits
        self._flood_times: deque[float] = deque()  # messages in the last second
        self._group_times: dict[object, deque[float]] = {}  # per group, the last minute
        self._fault_counts: dict[tuple[str, object], int] = {}
        self._polls = 0
        self._closing = threading.Event()
        bot_id = token.partition(":")[0]
        self.me = {
            "id": int(bot_id) if bot_id.isdigit() else 1,
            "is_bot": True,
            "first_name": "Quote Test Bot",
            "username": "quote_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._cond = threading.Condition(threading.RLock())
        self._world = World(self.me)
        self._calls: list[Call] = []
        self._pending: list[_Pending] = []
        self._confirmed: set[int] = set()
        self._pushed: dict[int, dict] = {}
        self._failures: list[_Failure] = []
        self._forced: list[tuple[str, str, float]] = []  # fault_next: (method, kind, hang seconds)
        self._forced_hang: dict[int, float] = {}  # per handler thread: the forced fault's hang
        self._next_update_id, self._poll_generation, self._closed = 10_001, 0, False
        # setWebhook's url, secret_token and allowed_updates; None: the bot long-polls.
        self.webhook: dict | None = None
        self.deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status) per webhook POST
        self._held: dict[str, threading.Event] = {}
        self._waiting: dict[str, int] = {}
        self._dropped: set[int] = set()
        self._deliverer: threading.Thread | None = None
        self._caller = threading.local()  # per handler thread: the `via` name of the request
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        if backlog is not None:  # socketserver listens with 5: a burst of connects beyond it is dropped
            self._server.request_queue_size = backlog
        self._server.server_bind()
        self._server.server_activate()
        self._server.stub = self  # type: ignore[attr-defined]
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/bot"
        self.file_base_url = f"http://127.0.0.1:{self.port}/file/bot"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def via_base_url(self, name: str) -> str:
        """A base URL for one of several bot processes: its calls are recorded with `via=name`."""
        return f"http://127.0.0.1:{self.port}/via/{name}/bot"

    def __enter__(self) -> BotApiStub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Wakes every waiting getUpdates (they answer []) and stops the server."""
        self._closing.set()  # hung and late answers stop waiting
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for gate in list(self._held.values()):
            gate.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._deliverer is not None:
            self._deliverer.join(timeout=5)

    # ---- inspecting -------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls in order; method names compare case-insensitively, like Telegram's."""
        with self._cond:
            return [c for c in self._calls if method is None or c.method.lower() == method.lower()]

    def calls_since(self, index: int) -> list[Call]:
        """The calls recorded after the first `index` (to follow a long run without copying it all)."""
        with self._cond:
            return self._calls[index:]

    def sent(self, chat_id: int | None = None, thread_id: int | None = None) -> list[Sent]:
        """Messages the bot sent (sendMessage, sendDocument, copyMessage, ...), in order."""
        with self._cond:
            return [
                s
                for s in self._world.sent
                if chat_id in (None, s.chat_id) and thread_id in (None, s.thread_id)
            ]

    def message(self, chat_id: int, message_id: int) -> dict:
        """The message as it is now, after any edits."""
        with self._cond:
            return copy.deepcopy(self._world.chat(chat_id).messages[message_id])

    def button(self, chat_id: int, message_id: int, data: str) -> str:
        """The callback data of the button under the message (as it is now) that is ``data`` or
        starts with ``data + "."`` (a multi-select button also carries its state and version)."""
        with self._cond:
            markup = self._world.chat(chat_id).messages[message_id].get("reply_markup") or {}
        shown = [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]
        found = [d for d in shown if d == data or d.startswith(data + ".")]
        if not found:
            raise AssertionError(f"no button {data!r} under message {message_id}: {shown}")
        return found[0]

    def topics(self, chat_id: int) -> dict[int, dict]:
        """Forum topics by message_thread_id, each with name, icon_color and closed."""
        with self._cond:
            return dict(self._world.chat(chat_id).topics)

    def my_commands(self, scope: dict | None = None, language_code: str = "") -> list[dict]:
        with self._cond:
            return self._world.commands.get(commands_key(scope, language_code), [])

    def confirmed(self) -> set[int]:
        """Update ids the bot confirmed (a later getUpdates offset passed them)."""
        with self._cond:
            return set(self._confirmed)

    def pushed(self) -> dict[int, dict]:
        """Every update pushed, by update_id."""
        with self._cond:
            return dict(self._pushed)

    def open_queries(self) -> set[str]:
        """Callback query ids not answered yet."""
        with self._cond:
            return set(self._world.open_queries)

    def set_faults(self, faults: Faults | None) -> None:
        """Start (or, with None, stop) injecting faults."""
        with self._cond:
            self.faults = faults

    def clear(self) -> None:
        """Forgets recorded calls and sent messages; chats and pending updates stay."""
        with self._cond:
            self._calls.clear()
            self._world.sent.clear()

    # ---- arranging --------------------------------------------------------------------------

    def add_chat(
        self,
        chat_id: int,
        *,
        chat_type: str = "supergroup",
        title: str = "Staff",
        is_forum: bool = True,
        **names: str | None,
    ) -> dict:
        """Declares a chat; unknown ids are made on first use (> 0 private, < 0 forum group)."""
        with self._cond:
            return self._world.add_chat(chat_id, chat_type, title, is_forum, **names)

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """Staff deleted the topic in the app: sends to it now get 'message thread not found'."""
        with self._cond:
            self._world.chat(chat_id).topics.pop(thread_id, None)

    def hold(self, method: str) -> None:
        """Calls of ``method`` wait (unrecorded, unanswered) until ``release(method)``."""
        with self._cond:
            self._held[method.lower()] = threading.Event()

    def release(self, method: str, *, answer: bool = True) -> None:
        """Let held calls through; ``answer=False``: they fail unrecorded, as if the connection
        broke before Telegram got them (the caller was killed meanwhile)."""
        with self._cond:
            gate = self._held.pop(method.lower(), None)
            if gate is not None and not answer:
                self._dropped.add(id(gate))
        if gate is not None:
            gate.set()

    def held_waiting(self, method: str) -> int:
        """How many calls of ``method`` are waiting at the hold right now."""
        with self._cond:
            return self._waiting.get(method.lower(), 0)

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 400,
        description: str | None = None,
        times: int = 1,
        retry_after: int | None = None,
        when: Callable[[dict], bool] | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` whose params satisfy ``when`` get this error.

        The description defaults to Telegram's text for the code: 400 "message thread not
        found", 403 "bot was blocked by the user", 429 "Too Many Requests: retry after N".
        """
        if error_code == 429:
            retry_after = retry_after or 1
            description = description or f"Too Many Requests: retry after {retry_after}"
        description = description or _DEFAULT_ERRORS.get(error_code, f"Error {error_code}")
        with self._cond:
            error = ApiError(error_code, description, retry_after)
            self._failures.append(_Failure(method.lower(), error, times, when))

    # ---- injecting user traffic -------------------------------------------------------------

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Taro",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "ja",
        chat_type: str = "private",
        message_thread_id: int | None = None,
        is_topic_message: bool | None = None,
    ) -> int:
        """A user writes ``text``; a leading /command gets its bot_command entity."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0].encode("utf-16-le")) // 2  # UTF-16 units
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        sender = {"user_id": user_id, "first_name": first_name, "last_name": last_name}
        sender |= {"username": username, "language_code": language_code, "chat_type": chat_type}
        sender |= {"message_thread_id": message_thread_id, "is_topic_message": is_topic_message}
        return self._push_user_message(chat_id, content, **sender)

    def push_document(
        self, chat_id: int, filename: str, content: bytes, *, caption: str | None = None, **sender
    ) -> int:
        """A user sends a file; ``sender`` takes push_message's keyword arguments."""
        with self._cond:
            document = self._world.store_file("document", filename, content)
            content_ = _captioned("document", document, caption)
            return self._push_user_message(chat_id, content_, **sender)

    def push_photo(self, chat_id: int, content: bytes, *, caption: str | None = None, **sender) -> int:
        """A user sends a photo; ``sender`` takes push_message's keyword arguments."""
        with self._cond:
            photo = [self._world.store_file("photo", "photo.jpg", content)]
            return self._push_user_message(chat_id, _captioned("photo", photo, caption), **sender)

    def push_callback(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        first_name: str = "Taro",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "ja",
    ) -> int:
        """A user taps an inline button under message ``message_id`` (as it is now)."""
        user_id = user_id or _default_user(chat_id)
        user = _user(user_id, first_name, last_name, username, language_code)
        with self._cond:
            query = self._world.callback_query(chat_id, message_id, user, data)
            return self.push_raw({"update_id": self._next_update_id, "callback_query": query})

    def push_raw(self, update: dict) -> int:
        """Queues ``update`` as is; pushing it again is a redelivery the bot will receive again."""
        with self._cond:
            self._pushed[update["update_id"]] = update
            self._pending.append(_Pending(update))
            self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
            self._cond.notify_all()
            return update["update_id"]

    def pending_update(self, update_id: int) -> dict:
        """An update as pushed (to feed an Application without polling, or to push it again)."""
        with self._cond:
            return self._pushed[update_id]

    def call_api(self, token: str, method: str, params: dict, files: dict) -> tuple[int, dict]:
        """Answer one Bot API call in-process, exactly as the HTTP server would."""
        return self._handle(token, method, params, files)

    # ---- waiting ----------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[BotApiStub], Any], timeout: float = 10.0, what: str = "") -> Any:
        """Returns predicate(stub) once truthy; re-checked after every call and every push."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (result := predicate(self)):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    raise TimeoutError(self._report(what or repr(predicate), timeout))
                self._cond.wait(remaining)
            return result

    def wait_for_sent(self, chat_id: int, count: int, timeout: float = 10.0) -> list[Sent]:
        """All messages sent to ``chat_id``, once there are at least ``count``."""

        def enough(stub: BotApiStub) -> list[Sent] | None:
            sent = stub.sent(chat_id)
            return sent if len(sent) >= count else None

        return self.wait_for(enough, timeout, f"{count} message(s) sent to chat {chat_id}")

    def wait_until_confirmed(self, update_id: int, timeout: float = 10.0) -> None:
        """Until the bot confirmed the update: a later getUpdates offset, or a 2xx to its webhook POST."""

        def confirmed(stub: BotApiStub) -> bool:
            pending = any(p.update["update_id"] == update_id for p in stub._pending)
            return update_id in stub._confirmed and not pending

        self.wait_for(confirmed, timeout, f"update {update_id} to be confirmed")

    async def async_wait_for(self, predicate: Callable, timeout: float = 10.0) -> Any:
        return await asyncio.to_thread(self.wait_for, predicate, timeout)

    async def async_wait_for_sent(self, chat_id: int, count: int, timeout: float = 10.0) -> list:
        return await asyncio.to_thread(self.wait_for_sent, chat_id, count, timeout)

    async def async_wait_until_confirmed(self, update_id: int, timeout: float = 10.0) -> None:
        await asyncio.to_thread(self.wait_until_confirmed, update_id, timeout)

    def _report(self, what: str, timeout: float) -> str:
        calls = [c for c in self._calls if c.method != "getUpdates"][-12:]
        lines = [
            f"{c.method} {json.dumps(c.params, ensure_ascii=False, default=str)[:300]}"
            + (f" -> {c.error}" if c.error else "")
            for c in calls
        ]
        pending = [p.update["update_id"] for p in self._pending]
        return (
            f"timed out after {timeout}s waiting for {what}; pending updates {pending}; "
            "last calls (getUpdates left out):\n  " + "\n  ".join(lines or ["(none)"])
        )

    # ---- serving (runs in the server's handler threads) -------------------------------------

    def _handle(self, token: str, method: str, params: dict, files: dict) -> tuple[int, dict]:
        if token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        with self._cond:
            gate = self._held.get(method.lower())
            if gate is not None:
                self._waiting[method.lower()] = self._waiting.get(method.lower(), 0) + 1
                self._cond.notify_all()
        if gate is not None:
            gate.wait()
            with self._cond:
                self._waiting[method.lower()] -= 1
                if id(gate) in self._dropped:
                    return 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}
        refused = self._flood_control(method, params)
        if refused is not None:
            self._record(method, params, files, error=refused.description, fault="flood")
            return refused.code, refused.envelope()
        fault = self._draw_fault(method, params)
        hang = self._hang_seconds(self._forced_hang.pop(threading.get_ident(), None))
        if fault == "hang":  # nothing happens; the answer comes after the client gave up
            self._record(method, params, files, error="hang: no answer in time", fault=fault)
            self._closing.wait(hang)
            return 504, {"ok": False, "error_code": 504, "description": "Gateway Timeout"}
        if fault in ("429", "5xx"):
            retry_after = self.faults.retry_after if self.faults else 1
            error = (
                ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
                if fault == "429"
                else ApiError(502, "Bad Gateway")
            )
            self._record(method, params, files, error=error.description, fault=fault)
            return error.code, error.envelope()
        status, envelope = self._answer(method, params, files, fault)
        if fault == "late":  # done, but the client will not hear of it
            self._closing.wait(hang)
        return status, envelope

    def flooded(self) -> list[Call]:
        """The calls flood control refused with 429."""
        return [c for c in self.calls() if c.fault == "flood"]

    def _flood_control(self, method: str, params: dict) -> ApiError | None:
        """A 429 if this message would go over the bot's second or its group's minute."""
        if self.flood is None or method.lower() not in self.flood.methods:
            return None
        now = self.flood.clock()
        chat = params.get("chat_id")
        with self._cond:
            windows = [(self._flood_times, 1.0, self.flood.per_second)]
            if isinstance(chat, int) and chat < 0:
                windows.append(
                    (self._group_times.setdefault(chat, deque()), 60.0, self.flood.per_group_minute)
                )
            for times, period, limit in windows:
                while times and now - times[0] >= period:
                    times.popleft()
                if len(times) >= limit:
                    wait = math.ceil(times[0] + period - now)
                    return ApiError(429, f"Too Many Requests: retry after {wait}", wait)
            for times, _, _ in windows:
                times.append(now)
        return None

    def fault_next(self, method: str, kind: str, *, hang: float = 1.0) -> None:
        """The next call of ``method`` meets this fault ("429", "5xx", "hang", "late") whatever
        ``faults`` says; a hang or a late answer takes ``hang`` seconds (past the client's read
        timeout, which the test sets)."""
        assert kind in FAULT_KINDS, kind
        with self._cond:
            self._forced.append((method.lower(), kind, hang))

    def _hang_seconds(self, forced: float | None) -> float:
        if forced is not None:
            return forced
        return self.faults.hang if self.faults else 0

    def _draw_fault(self, method: str, params: dict) -> str | None:
        with self._cond:
            for n, (name, kind, hang) in enumerate(self._forced):
                if name == method.lower():
                    del self._forced[n]
                    self._forced_hang[threading.get_ident()] = hang
                    return kind
            self._forced_hang.pop(threading.get_ident(), None)
            if self.faults is None:
                return None
            key = (method.lower(), params.get("chat_id", params.get("callback_query_id")))
            n = self._fault_counts[key] = self._fault_counts.get(key, 0) + 1
            return self.faults.draw(method, key[1], n)

    def _record(self, method: str, params: dict, files: dict, **fields: Any) -> Call:
        with self._cond:
            via = getattr(self._caller, "via", None)
            call = Call(method, params, {k: v[:2] for k, v in files.items()}, time.time(), via=via, **fields)
            self._calls.append(call)
            self._cond.notify_all()
            return call

    def _answer(self, method: str, params: dict, files: dict, fault: str | None = None) -> tuple[int, dict]:
        with self._cond:
            call = self._record(method, params, files, fault=fault)
            try:
                self._take_failure(method, params)
                own = getattr(self, f"_api_{method.lower()}", None)
                handler = own or getattr(self._world, f"api_{method.lower()}", None)
                if handler is None:
                    raise ApiError(404, "Not Found")
                call.result = handler(params, files)
                return 200, {"ok": True, "result": call.result}
            except KeyError as e:
                call.error = f"Bad Request: {e.args[0]} is empty"
                return 400, {"ok": False, "error_code": 400, "description": call.error}
            except ApiError as e:
                call.error = e.description
                return e.code, e.envelope()
            except Exception as e:  # a bug in the stub: make it visible in the test's failure
                call.error = f"stub crashed: {e!r}"
                return 500, {"ok": False, "error_code": 500, "description": call.error}
            finally:
                self._cond.notify_all()

    def _take_failure(self, method: str, params: dict) -> None:
        for failure in self._failures:
            if failure.method == method.lower() and (not failure.when or failure.when(params)):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                raise failure.error

    def _download(self, token: str, path: str) -> bytes | None:
        with self._cond:
            files = self._world.files.values() if token == self.token else []
            return next((f["data"] for f in files if f["file_path"] == path), None)

    def _api_getupdates(self, p: dict, files: dict) -> list[dict]:
        """Long poll. An update stays pending until delivered and passed by a later offset."""
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_ACTIVE)
        offset, limit = int(p.get("offset") or 0), min(max(int(p.get("limit") or 100), 1), 100)
        deadline = time.monotonic() + min(float(p.get("timeout") or 0), self.max_poll_wait)
        self._poll_generation += 1
        generation = self._poll_generation
        self._polls += 1
        if offset < 0:  # Telegram: only the last -offset updates; earlier ones are forgotten
            self._pending = self._pending[offset:]
        if self.faults is not None and self.faults.redelivers(self._polls):
            offset = 0  # the confirmation was lost: what was delivered comes again
        for done in [u for u in self._pending if u.delivered and u.update["update_id"] < offset]:
            self._pending.remove(done)
            self._confirmed.add(done.update["update_id"])
        self._cond.notify_all()
        while True:
            if self._poll_generation != generation:  # a newer getUpdates took over
                raise ApiError(409, CONFLICT)
            remaining = deadline - time.monotonic()
            if self._pending or self._closed or remaining <= 0:
                break
            self._cond.wait(remaining)
        batch = sorted(self._pending, key=lambda u: u.update["update_id"])[:limit]
        for pending in batch:
            pending.delivered = True
        return [pending.update for pending in batch]

    def _api_deletewebhook(self, p: dict, files: dict) -> bool:
        if p.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = None
        return True

    def _api_setwebhook(self, p: dict, files: dict) -> bool:
        """Telegram's rules: an https URL (the stub takes http on loopback), a secret of
        1-256 A-Z a-z 0-9 _ -; from now on updates are POSTed there, not given to getUpdates."""
        url = p["url"]
        if not url:
            return self._api_deletewebhook(p, files)
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if not re.match(r"https://|http://(127\.0\.0\.1|localhost)[:/]", url):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        if p.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": p.get("allowed_updates")}
        for pending in self._pending:
            pending.delivered = False
        if self._deliverer is None and self.webhook_delivery:
            self._deliverer = threading.Thread(target=self._deliver_forever, daemon=True)
            self._deliverer.start()
        return True

    def _api_getwebhookinfo(self, p: dict, files: dict) -> dict:
        info = {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._pending)}
        if self.webhook is not None:
            info |= {"url": self.webhook["url"], "max_connections": 40}
            if self.webhook["allowed_updates"]:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _deliver_forever(self) -> None:
        """Like Telegram: POST each pending update to the webhook, oldest first, with the secret
        header; a 2xx confirms it, anything else (or no answer) means trying again shortly."""
        while True:
            with self._cond:
                while not self._closed and (self.webhook is None or not self._pending):
                    self._cond.wait(0.5)
                if self._closed:
                    return
                pending = min(self._pending, key=lambda u: u.update["update_id"])
                webhook = dict(self.webhook)
            status = self._post(webhook, pending.update)
            with self._cond:
                self.deliveries.append((pending.update["update_id"], status))
                if 200 <= status < 300 and pending in self._pending:
                    self._pending.remove(pending)
                    self._confirmed.add(pending.update["update_id"])
                self._cond.notify_all()
                if not 200 <= status < 300:
                    self._cond.wait(0.2)

    @staticmethod
    def _post(webhook: dict, update: dict) -> int:
        headers = {"Content-Type": "application/json"}
        if webhook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = webhook["secret_token"]
        body = json.dumps(update, ensure_ascii=False).encode()
        request = urllib.request.Request(webhook["url"], data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:  # refused, reset, timed out: the bot is down
            return 0

    def _push_user_message(
        self,
        chat_id: int,
        content: dict,
        *,
        user_id: int | None = None,
        first_name: str = "Taro",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "ja",
        chat_type: str = "private",
        message_thread_id: int | None = None,
        is_topic_message: bool | None = None,
    ) -> int:
        with self._cond:
            if chat_id not in self._world.chats:
                names = {"first_name": first_name, "last_name": last_name, "username": username}
                self._world.add_chat(chat_id, chat_type, "Staff", True, **names)
            user_id = user_id or _default_user(chat_id)
            user = _user(user_id, first_name, last_name, username, language_code)
            message = self._world.user_message(chat_id, user, content, message_thread_id, is_topic_message)
            return self.push_raw({"update_id": self._next_update_id, "message": message})


def _user(user_id: int, first_name: str, last_name, username, language_code) -> dict:
    user = {"id": user_id, "is_bot": False, "first_name": first_name, "last_name": last_name}
    user |= {"username": username, "language_code": language_code}
    return {k: v for k, v in user.items() if v is not None}


def _default_user(chat_id: int) -> int:
    """In a private chat the user's id is the chat's id; in a group a fixed staff member writes."""
    return chat_id if chat_id > 0 else 5001


def _captioned(kind: str, obj: Any, caption: str | None) -> dict:
    return {kind: obj} if caption is None else {kind: obj, "caption": caption}


def _decode(query: str, content_type: str, body: bytes) -> tuple[dict, dict]:
    """Params (JSON-decoded unless a known string) and files {name: (filename, bytes, mime)}."""
    raw, files = dict(parse_qsl(query, keep_blank_values=True)), {}
    if content_type.startswith("application/json"):
        return {**raw, **json.loads(body or b"{}")}, files
    if content_type.startswith("multipart/form-data"):
        boundary = re.search(r'boundary="?([^";]+)', content_type)[1].encode()  # type: ignore[index]
        for part in body.split(b"--" + boundary)[1:]:
            if part.startswith(b"--"):
                break
            head, _, data = part[2:-2].partition(b"\r\n\r\n")  # drop the CRLFs around the part
            headers = head.decode()
            name = _unescape(re.search(r'\bname="([^"]*)"', headers)[1])  # type: ignore[index]
            if filename := re.search(r'\bfilename="([^"]*)"', headers):
                mime = re.search(r"(?i)content-type:\s*(\S+)", headers)
                files[name] = (_unescape(filename[1]), data, mime and mime[1])
            else:
                raw[name] = data.decode()
    elif body:
        raw |= parse_qsl(body.decode(), keep_blank_values=True)
    return {k: v if k in _STRING_PARAMS else _json_or_str(v) for k, v in raw.items()}, files


def _json_or_str(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value  # e.g. chat_id "@channel"


def _unescape(value: str) -> str:
    """Undoes httpx's HTML5-style escaping of field names and filenames."""
    return value.replace("%22", '"').replace("\\\\", "\\")


class _Handler(BaseHTTPRequestHandler):
    """POST (what PTB uses) or GET to /bot<token>/<method>; GET /file/bot<token>/<path>."""

    def do_POST(self) -> None:
        stub: BotApiStub = self.server.stub  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        path = unquote(url.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        not_found = {"ok": False, "error_code": 404, "description": "Not Found"}
        if m := re.fullmatch(r"/file/bot([^/]+)/(.+)", path):
            data = stub._download(m[1], m[2])
            if data is not None:
                return self._reply(200, data, "application/octet-stream")
            return self._reply(404, json.dumps(not_found).encode())
        status, envelope = 404, not_found
        if m := re.fullmatch(r"(?:/via/([^/]+))?/bot([^/]+)/(\w+)", path):
            params, files = _decode(url.query, self.headers.get("Content-Type", ""), body)
            stub._caller.via = m[1]
            status, envelope = stub._handle(m[2], m[3], params, files)
        self._reply(status, json.dumps(envelope, ensure_ascii=False).encode())

    do_GET = do_POST

    def _reply(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the bot gave up on this request (a cancelled long poll, or a killed process)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean
