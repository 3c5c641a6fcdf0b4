"""Telegram taken out: a PTB request layer that answers every Bot API call in-process, and updates.

`FakeBotApi` is a `telegram.request.BaseRequest`, so the real `Application` and `Bot` run
(serialising the call, parsing the answer into PTB objects); only the socket is gone. It answers
as Telegram would (a `Message` for sendMessage/editMessageText/sendDocument, `true` otherwise),
optionally after `delay` seconds (the network's round trip), and records per chat what was sent,
so a benchmark can wait for "every chat has all its replies" and check they are the right ones.
It is lighter than tests/support/botapi_stub (no world, no locks, no copies), so what is timed
is the bots, not the stub. `message_update` / `tap_update` build the updates polling would
deliver, already parsed by PTB (as polling does before queueing).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict

from telegram import Update
from telegram.request import BaseRequest, RequestData

BOT_ID = 123
ME = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Quote Bench Bot",
    "username": "quote_bench_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
DATE = 1_795_000_000  # 2026-11-18, any fixed moment
MESSAGE_METHODS = frozenset({"sendMessage", "editMessageText", "sendDocument", "copyMessage"})
SENDS = frozenset({"sendMessage", "sendDocument", "copyMessage"})  # a new message in the chat


class FakeBotApi(BaseRequest):
    """Answers Bot API calls at once (or after `delay` s); `sent[chat]` lists (method, text, when),
    `answered[callback query id]` when the tap's answer came (its button stopped spinning)."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.sent: dict[int, list[tuple[str, str, float]]] = defaultdict(list)
        self.answered: dict[str, float] = {}
        self.calls: dict[str, int] = defaultdict(int)
        self.messages = 0  # sendMessage + editMessageText + ... in all
        self._message_ids = itertools.count(1_000_000)
        self._goal, self._reached = 0, asyncio.Event()
        self._chat_goals: dict[int, tuple[int, asyncio.Future]] = {}

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def read_timeout(self) -> float:
        return 5.0

    async def do_request(self, url, method, request_data: RequestData | None = None, **timeouts):
        api = url.rsplit("/", 1)[-1]
        self.calls[api] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        params = request_data.parameters if request_data is not None else {}
        if api == "getMe":
            result: object = ME
        elif api in MESSAGE_METHODS:
            chat = int(params["chat_id"])
            text = params.get("text") or params.get("caption") or ""
            sent = self.sent[chat]
            sent.append((api, text, time.perf_counter()))
            goal = self._chat_goals.get(chat)
            if goal is not None and len(sent) >= goal[0] and not goal[1].done():
                goal[1].set_result(None)
            message_id = params.get("message_id") or next(self._message_ids)
            result = {
                "message_id": message_id,
                "date": DATE,
                "chat": {"id": chat, "type": "private", "first_name": "Taro"},
                "from": ME,
                "text": text,
            }
            self.messages += 1
            if self.messages >= self._goal:
                self._reached.set()
        else:  # answerCallbackQuery, setMyCommands, deleteWebhook...
            if api == "answerCallbackQuery":
                self.answered.setdefault(str(params["callback_query_id"]), time.perf_counter())
            result = True
        return 200, json.dumps({"ok": True, "result": result}).encode()

    async def wait_messages(self, count: int, timeout: float) -> None:
        """Until `count` messages (sent or edited) in all since this object was made."""
        self._goal = count
        self._reached.clear()
        if self.messages < count:
            await asyncio.wait_for(self._reached.wait(), timeout)

    async def wait_chat(self, chat: int, count: int, timeout: float) -> None:
        """Until `chat` has `count` messages (sent or edited) in all."""
        if len(self.sent[chat]) >= count:
            return
        future = asyncio.get_running_loop().create_future()
        self._chat_goals[chat] = (count, future)
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            self._chat_goals.pop(chat, None)


# Unique across runs on a kept database (a reused update id is a redelivery, ignored), and
# above benchmarks.scale.Filler's ids.
_update_ids = itertools.count(time.time_ns() // 1_000)
_user_message_ids = itertools.count(1)


def _user(chat: int) -> dict:
    return {"id": chat, "is_bot": False, "first_name": "Taro", "language_code": "ja"}


def message_update(chat: int, text: str) -> dict:
    """A private chat's text message as getUpdates returns it (a /command with its entity)."""
    message = {
        "message_id": next(_user_message_ids),
        "date": DATE,
        "chat": {"id": chat, "type": "private", "first_name": "Taro"},
        "from": _user(chat),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": next(_update_ids), "message": message}


def tap_update(chat: int, data: str, message_id: int = 999) -> dict:
    """A tap on an inline button under one of the bot's messages."""
    update_id = next(_update_ids)
    return {
        "update_id": update_id,
        "callback_query": {
            "id": str(update_id),
            "from": _user(chat),
            "chat_instance": str(chat),
            "data": data,
            "message": {
                "message_id": message_id,
                "date": DATE,
                "chat": {"id": chat, "type": "private", "first_name": "Taro"},
                "from": ME,
                "text": "…",
            },
        },
    }


def update_of(kind: str, chat: int, text: str) -> dict:
    return tap_update(chat, text) if kind == "tap" else message_update(chat, text)


def parsed(updates: list[dict], bot) -> list[Update]:
    return [Update.de_json(u, bot) for u in updates]
