"""What the fake Telegram does with each Bot API method: chats, messages, topics and files.

No threads and no HTTP here: BotApiStub calls these methods under its lock with decoded params.
Error descriptions are Telegram's own, so the bot's error handling can match on them.
"""

from __future__ import annotations

import copy
import itertools
import json
import mimetypes
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
THREAD_NOT_FOUND = "Bad Request: message thread not found"
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
DEFAULT_ICON_COLOR = 7322096
_HTML_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a"}
    | {"code", "pre", "blockquote", "tg-emoji"}
)
_COPIED = ("text", "entities", "caption", "document", "photo", "voice")


class ApiError(Exception):
    """An ok=false answer, shaped like Telegram's."""

    def __init__(self, code: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after

    def envelope(self) -> dict:
        body: dict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass(frozen=True)
class Sent:
    """A message the bot sent; ``message`` is the Message object as returned to the bot."""

    method: str
    chat_id: int
    message_id: int
    thread_id: int | None
    text: str | None  # the text, or the caption of a file
    reply_markup: dict | None
    file: tuple[str, bytes] | None
    message: dict


@dataclass
class Chat:
    info: dict  # the Chat object as Telegram shows it
    next_id: int = 1
    messages: dict[int, dict] = field(default_factory=dict)
    topics: dict[int, dict] = field(default_factory=dict)  # thread id -> ForumTopic + "closed"


class World:
    """Chats with their messages and forum topics, uploaded files, commands, open queries."""

    def __init__(self, me: dict):
        self.me = me
        self.chats: dict[int, Chat] = {}
        self.sent: list[Sent] = []
        self.files: dict[str, dict] = {}  # file_id -> File object + "data" + "name"
        self.commands: dict[str, list] = {}
        self.open_queries: set[str] = set()
        self._ids = itertools.count(1)

    # ---- used by the stub's arranging and pushing helpers -----------------------------------

    def add_chat(self, chat_id: int, chat_type: str, title: str, is_forum: bool, **names) -> dict:
        info: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            info |= {"first_name": "Taro"} | {k: v for k, v in names.items() if v is not None}
        else:
            info |= {"title": title, "is_forum": True} if is_forum else {"title": title}
        self.chats[chat_id] = Chat(info)
        return info

    def chat(self, chat_id: int | str) -> Chat:
        """Unknown ids are created on first use: > 0 a private chat, < 0 a forum supergroup."""
        try:
            chat_id = int(chat_id)
        except ValueError:
            raise ApiError(400, "Bad Request: chat not found") from None
        if chat_id not in self.chats:
            chat_type = "private" if chat_id > 0 else "supergroup"
            self.add_chat(chat_id, chat_type, "Staff", is_forum=True)
        return self.chats[chat_id]

    def user_message(
        self,
        chat_id: int,
        user: dict,
        content: dict,
        thread_id: int | None,
        is_topic_message: bool | None,
    ) -> dict:
        chat = self.chat(chat_id)
        if thread_id and chat.info.get("is_forum") and thread_id not in chat.topics:
            name = f"Topic {thread_id}"  # a topic staff made in the app
            chat.topics[thread_id] = _topic(thread_id, name, DEFAULT_ICON_COLOR)
        return self._new_message(chat, user, content, thread_id, is_topic_message)

    def callback_query(self, chat_id: int, message_id: int, user: dict, data: str) -> dict:
        message = self.chat(chat_id).messages.get(message_id)
        if message is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        query_id = f"cbq{next(self._ids)}"
        self.open_queries.add(query_id)
        return {
            "id": query_id,
            "from": user,
            "message": copy.deepcopy(message),  # later edits must not change this update
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }

    def store_file(
        self,
        kind: str,
        name: str,
        data: bytes,
        mime: str | None = None,
        duration: int | None = None,
    ) -> dict:
        """Keeps the bytes for getFile + download; returns the Document/PhotoSize/Voice object."""
        n = next(self._ids)
        obj: dict[str, Any] = {"file_id": f"{kind}-{n}", "file_unique_id": f"u{n}"}
        obj["file_size"] = len(data)
        mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
        if kind == "document":
            obj |= {"file_name": name, "mime_type": mime}
        elif kind == "photo":
            obj |= {"width": 640, "height": 480}
        elif kind == "voice":
            obj |= {"duration": duration or 1, "mime_type": mime}
        path = f"{kind}s/file_{n}.{name.rpartition('.')[2] or 'bin'}"
        self.files[obj["file_id"]] = obj | {"file_path": path, "data": data, "name": name}
        return obj

    # ---- Bot API methods: api_<lowercased method>(params, files) -> result ------------------

    def api_getme(self, p: dict, files: dict) -> dict:
        return self.me

    def api_setmycommands(self, p: dict, files: dict) -> bool:
        self.commands[commands_key(p.get("scope"), p.get("language_code"))] = p["commands"]
        return True

    def api_getmycommands(self, p: dict, files: dict) -> list:
        return self.commands.get(commands_key(p.get("scope"), p.get("language_code")), [])

    def api_deletemycommands(self, p: dict, files: dict) -> bool:
        self.commands.pop(commands_key(p.get("scope"), p.get("language_code")), None)
        return True

    def api_sendmessage(self, p: dict, files: dict) -> dict:
        content = {"text": _checked_text(p.get("text"), p.get("parse_mode"))}
        if "entities" in p:
            content["entities"] = p["entities"]
        return self._send("sendMessage", p, content)

    def api_senddocument(self, p: dict, files: dict) -> dict:
        return self._send_file("sendDocument", "document", p, files)

    def api_sendphoto(self, p: dict, files: dict) -> dict:
        return self._send_file("sendPhoto", "photo", p, files)

    def api_sendvoice(self, p: dict, files: dict) -> dict:
        return self._send_file("sendVoice", "voice", p, files)

    def api_copymessage(self, p: dict, files: dict) -> dict:
        content = self._source_content(p, "copy")
        if "caption" in p:
            content["caption"] = p["caption"]
        return {"message_id": self._send("copyMessage", p, content)["message_id"]}

    def api_forwardmessage(self, p: dict, files: dict) -> dict:
        content = self._source_content(p, "forward")
        source = self.chat(p["from_chat_id"]).messages[p["message_id"]]
        content["forward_origin"] = {
            "type": "user",
            "date": source["date"],
            "sender_user": source["from"],
        }
        return self._send("forwardMessage", p | {"reply_markup": None}, content)

    def api_editmessagetext(self, p: dict, files: dict) -> dict:
        return self._edit(p, {"text": _checked_text(p.get("text"), p.get("parse_mode"))})

    def api_editmessagereplymarkup(self, p: dict, files: dict) -> dict:
        return self._edit(p, {})

    def api_deletemessage(self, p: dict, files: dict) -> bool:
        if self.chat(p["chat_id"]).messages.pop(p["message_id"], None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    def api_answercallbackquery(self, p: dict, files: dict) -> bool:
        """A query can be answered once; a second answer gets Telegram's 'too old' error."""
        if p["callback_query_id"] not in self.open_queries:
            raise ApiError(400, QUERY_TOO_OLD)
        self.open_queries.remove(p["callback_query_id"])
        return True

    def api_sendchataction(self, p: dict, files: dict) -> bool:
        self._thread(self.chat(p["chat_id"]), p.get("message_thread_id"))
        return True

    def api_createforumtopic(self, p: dict, files: dict) -> dict:
        chat = self.chat(p["chat_id"])
        if not chat.info.get("is_forum"):
            raise ApiError(400, "Bad Request: the chat is not a forum")
        thread_id = chat.next_id  # the "topic created" service message's id
        chat.next_id += 1
        icon = p.get("icon_color", DEFAULT_ICON_COLOR)
        chat.topics[thread_id] = _topic(thread_id, p["name"], icon, p.get("icon_custom_emoji_id"))
        return {k: v for k, v in chat.topics[thread_id].items() if k != "closed"}

    def api_editforumtopic(self, p: dict, files: dict) -> bool:
        self._topic(p).update({k: p[k] for k in ("name", "icon_custom_emoji_id") if k in p})
        return True

    def api_closeforumtopic(self, p: dict, files: dict) -> bool:
        return self._set_closed(p, True)

    def api_reopenforumtopic(self, p: dict, files: dict) -> bool:
        return self._set_closed(p, False)

    def api_deleteforumtopic(self, p: dict, files: dict) -> bool:
        self._topic(p)
        del self.chat(p["chat_id"]).topics[p["message_thread_id"]]
        return True

    def api_getfile(self, p: dict, files: dict) -> dict:
        if p["file_id"] not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {k: v for k, v in self.files[p["file_id"]].items() if k not in ("data", "name")}

    def api_getchat(self, p: dict, files: dict) -> dict:
        gifts = ["unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription"]
        full_info = {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys([*gifts, "gifts_from_channels"], False),
        }
        return self.chat(p["chat_id"]).info | full_info

    # ---- internals --------------------------------------------------------------------------

    def _new_message(
        self,
        chat: Chat,
        sender: dict,
        content: dict,
        thread_id: int | None,
        is_topic_message: bool | None = None,
    ) -> dict:
        message = {"message_id": chat.next_id, "from": sender, "chat": chat.info}
        message |= {"date": int(time.time()), **content}
        chat.next_id += 1
        if thread_id:
            message["message_thread_id"] = thread_id
            if chat.info.get("is_forum") if is_topic_message is None else is_topic_message:
                message["is_topic_message"] = True
        chat.messages[message["message_id"]] = message
        return message

    def _send(self, method: str, p: dict, content: dict, file: tuple | None = None) -> dict:
        chat = self.chat(p["chat_id"])
        thread_id = self._thread(chat, p.get("message_thread_id"))
        markup = _inline_markup(p.get("reply_markup"))
        if markup:
            content["reply_markup"] = markup
        message = self._new_message(chat, self.me, content, thread_id)
        text = content.get("text", content.get("caption"))
        chat_id, message_id = chat.info["id"], message["message_id"]
        snapshot = copy.deepcopy(message)
        self.sent.append(Sent(method, chat_id, message_id, thread_id, text, markup, file, snapshot))
        return message

    def _send_file(self, method: str, kind: str, p: dict, files: dict) -> dict:
        """An uploaded file (multipart part named ``kind``), a known file_id, or an http URL."""
        ref = p.get(kind)
        if kind in files:
            name, data, mime = files[kind]
            obj = self.store_file(kind, name, data, mime, p.get("duration"))
        elif isinstance(ref, str) and ref in self.files:
            if not ref.startswith(f"{kind}-"):
                stored_kind = ref.partition("-")[0]
                raise ApiError(400, f"Bad Request: can't use file of type {stored_kind} as {kind}")
            stored = self.files[ref]
            name, data = stored["name"], stored["data"]
            obj = {k: v for k, v in stored.items() if k not in ("data", "name", "file_path")}
        elif isinstance(ref, str) and ref.startswith(("http://", "https://")):
            name, data = ref.rpartition("/")[2], b""
            obj = self.store_file(kind, name, data)
        elif ref is not None:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        else:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        content: dict[str, Any] = {kind: [obj] if kind == "photo" else obj}
        caption = _checked_text(p.get("caption"), p.get("parse_mode"), caption=True)
        if caption is not None:
            content["caption"] = caption
        return self._send(method, p, content, (name, data))

    def _source_content(self, p: dict, verb: str) -> dict:
        source = self.chat(p["from_chat_id"]).messages.get(p["message_id"])
        if source is None:
            raise ApiError(400, f"Bad Request: message to {verb} not found")
        return {k: source[k] for k in _COPIED if k in source}

    def _edit(self, p: dict, changes: dict) -> dict:
        """Editing without reply_markup removes the keyboard, as in Telegram."""
        message = self.chat(p["chat_id"]).messages.get(p["message_id"])
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        changes["reply_markup"] = _inline_markup(p.get("reply_markup"))
        if all(message.get(k) == v for k, v in changes.items()):
            raise ApiError(400, NOT_MODIFIED)
        message.update(changes, edit_date=int(time.time()))
        if message["reply_markup"] is None:
            del message["reply_markup"]
        return message

    def _thread(self, chat: Chat, thread_id: int | None) -> int | None:
        if thread_id and chat.info.get("is_forum"):
            if thread_id not in chat.topics:
                raise ApiError(400, THREAD_NOT_FOUND)
            if chat.topics[thread_id]["closed"]:
                raise ApiError(400, "Bad Request: TOPIC_CLOSED")
        return thread_id

    def _topic(self, p: dict) -> dict:
        topic = self.chat(p["chat_id"]).topics.get(p["message_thread_id"])
        if topic is None:
            raise ApiError(400, THREAD_NOT_FOUND)
        return topic

    def _set_closed(self, p: dict, closed: bool) -> bool:
        topic = self._topic(p)
        if topic["closed"] == closed:
            raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic["closed"] = closed
        return True


def commands_key(scope: dict | None, language_code: str | None) -> str:
    return json.dumps([scope or {"type": "default"}, language_code or ""], sort_keys=True)


def _topic(thread_id: int, name: str, icon_color: int, emoji_id: str | None = None) -> dict:
    topic = {"message_thread_id": thread_id, "name": name, "icon_color": icon_color}
    if emoji_id:
        topic["icon_custom_emoji_id"] = emoji_id
    return topic | {"closed": False}


def _inline_markup(markup: Any) -> dict | None:
    """Only inline keyboards come back on a message; callback_data is at most 64 bytes."""
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return None
    for row in markup["inline_keyboard"]:
        for button in row:
            if len(button.get("callback_data", "").encode()) > 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


class _TagCheck(HTMLParser):
    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in _HTML_TAGS:
            description = f'Unsupported start tag "{tag}"'
            raise ApiError(400, f"Bad Request: can't parse entities: {description}")


def _checked_text(text: Any, parse_mode: str | None, *, caption: bool = False) -> Any:
    """Telegram's length limits (counted here in code points) and its HTML tag whitelist."""
    if caption and text is None:
        return None
    if not caption and (not isinstance(text, str) or not text.strip()):
        raise ApiError(400, "Bad Request: message text is empty")
    if len(text) > (1024 if caption else 4096):
        raise ApiError(400, f"Bad Request: message {'caption ' if caption else ''}is too long")
    if (parse_mode or "").upper() == "HTML":
        _TagCheck().feed(text)
    return text
