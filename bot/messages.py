"""The messages that cross between channels and the engine, in platform-neutral terms.

This module imports nothing of ours: every other part may use it.

In: a channel turns a platform event into an `Inbound` for a conversation `Key`.
Out: the engine writes `Envelope`s (a destination, a body, a kind) to the outbox; the owning
channel's sender renders each body in its own format. Text is stored neutral: the templates'
Telegram-HTML subset (<b>, <i>, <a href>, <code>...) with user text escaped. Telegram sends it
as is; plain-text channels turn it into text with `bot.markup.to_plain`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

INBOUND_KINDS = ("text", "tap", "command", "media", "wake")
ENVELOPE_KINDS = ("reply", "alert", "relay", "reminder", "ticket_open", "ticket_close")


@dataclass(frozen=True, order=True)
class Key:
    """One conversation: the channel ("telegram", "line", "console") and the platform's chat id."""

    channel: str
    id: str

    def __post_init__(self):
        if not self.channel or ":" in self.channel or not self.id:
            raise ValueError(f"bad conversation key {self.channel!r}:{self.id!r}")

    def __str__(self) -> str:
        return f"{self.channel}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Key:
        """ "line:U1" → Key("line", "U1"); the id may itself contain ':'."""
        channel, sep, id_ = text.partition(":")
        if not sep:
            raise ValueError(f"bad conversation key {text!r}")
        return cls(channel, id_)


@dataclass(frozen=True)
class Inbound:
    """One thing a user (or staff, about a user) did, in platform-neutral terms.

    kind: "text" (a typed message; "/start" too), "tap" (a button's token), "command"
    (a platform command that is not typed text), "media" (a photo, a file, a sticker) or
    "wake" (a channel (re)opened: show where the conversation stands).
    reply_ctx is opaque to the core (JSON values only): the channel's sender gets it back with
    the turn's direct replies (Telegram: the callback query and the tapped message).
    order is the platform's order within the conversation (Telegram's update_id), else None.
    from_staff: staff wrote this in the conversation's staff thread (relay it, or a /command).
    """

    conversation: Key
    kind: str
    text: str = ""
    event_id: str | None = None  # the platform's id, for recognising redeliveries
    locale_hint: str | None = None  # e.g. Telegram's language_code
    user_name: str | None = None
    ref: str | None = None  # the platform's message, to forward media ("<chat>:<message>" on Telegram)
    reply_ctx: dict[str, Any] | None = None
    order: int | None = None
    from_staff: bool = False

    @property
    def channel(self) -> str:
        return self.conversation.channel

    def to_json(self) -> dict[str, Any]:
        data = {
            "conversation": str(self.conversation),
            "kind": self.kind,
            "text": self.text,
            "event_id": self.event_id,
            "locale_hint": self.locale_hint,
            "user_name": self.user_name,
            "ref": self.ref,
            "reply_ctx": self.reply_ctx,
            "order": self.order,
            "from_staff": self.from_staff,
        }
        return {k: v for k, v in data.items() if v not in (None, "", False)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Inbound:
        return cls(**{**data, "conversation": Key.parse(data["conversation"])})


@dataclass(frozen=True)
class Option:
    """A button: the token it sends back (short ASCII) and its label."""

    token: str
    label: str


@dataclass(frozen=True)
class Document:
    """A file to send (the incident summary): its name and bytes."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class Reply:
    """A message: neutral text, buttons, optionally a file (then the text is its caption).

    choices answer the open question (the step's options); actions stay on a card and act on
    it (checklist ticks, "back to the bot"). replaces: edit the tapped message in place where
    the platform can (a multi-select's ticks), else send a new one.
    """

    key: str  # the template it was rendered from (for tests and logs)
    text: str
    choices: tuple[Option, ...] = ()
    actions: tuple[Option, ...] = ()
    replaces: bool = False
    document: Document | None = None

    @property
    def buttons(self) -> tuple[Option, ...]:
        """Every button, in the order shown: the choices, then the actions."""
        return self.choices + self.actions

    @property
    def question(self) -> str | None:
        """The question this message asks, as its choices' tokens ("quote.industry.retail ...");
        None when it asks none (a card's actions are not a question)."""
        return question_of(self.choices)


def question_of(choices: tuple[Option, ...]) -> str | None:
    """Two prompts ask the same question when their choices carry the same tokens (a
    multi-select's carry its keyboard's version, so each tick makes a new question)."""
    return " ".join(o.token for o in choices) or None


@dataclass(frozen=True)
class Forward:
    """Relay a platform message (media) as it is; each sender decides how.

    channel is where the message lives, ref the platform's reference to it (Telegram
    "<chat>:<message>", LINE a message id).
    """

    channel: str
    ref: str
    caption: str = ""


@dataclass(frozen=True)
class Notice:
    """A short toast for a tap (Telegram's answerCallbackQuery). Empty text: just acknowledge
    the tap. Platforms without toasts may drop it or show it as text."""

    text: str = ""


@dataclass(frozen=True)
class Staff:
    """The staff desk: its General thread (about=None) or the thread about one conversation.

    title is how the desk may name that thread (the user's name and key); not part of the
    destination's identity.
    """

    about: Key | None = None
    title: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return destination_text(self)


Destination = Key | Staff
Body = Reply | Forward | Notice


@dataclass(frozen=True)
class Envelope:
    """One message to send, as the outbox keeps it.

    kind: "reply" (a direct answer of a turn), "alert" (to staff), "relay" (a message passed
    between user and staff), "reminder", "ticket_open" / "ticket_close" (the staff desk opens or
    reopens the conversation's thread before sending, closes it after).
    not_before: not sent before then (reminders, the no-answer notice). tag: lets a pending
    message be cancelled. reply_ctx: the inbound's, handed back to the channel's sender.
    """

    destination: Destination
    body: Body
    kind: str = "reply"
    not_before: datetime | None = None
    tag: str | None = None
    reply_ctx: dict[str, Any] | None = None

    def __post_init__(self):
        if self.kind not in ENVELOPE_KINDS:
            raise ValueError(f"unknown envelope kind {self.kind!r}")

    @property
    def route(self) -> str:
        """Which sender takes it: "staff" (the staff desk) or the conversation's channel."""
        return route_of(self.destination)

    @property
    def question(self) -> str | None:
        """The question a turn's direct reply asks (see Reply.question); a newer turn that leaves
        another question open supersedes it while unsent. Other kinds never are."""
        if self.kind == "reply" and isinstance(self.body, Reply):
            return self.body.question
        return None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"to": destination_text(self.destination), "kind": self.kind}
        if isinstance(self.destination, Staff) and self.destination.title:
            data["title"] = self.destination.title
        data["body"] = body_to_json(self.body)
        if self.not_before is not None:
            data["not_before"] = self.not_before.isoformat()
        if self.tag is not None:
            data["tag"] = self.tag
        if self.reply_ctx is not None:
            data["reply_ctx"] = self.reply_ctx
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Envelope:
        destination = parse_destination(data["to"])
        if isinstance(destination, Staff) and data.get("title"):
            destination = Staff(destination.about, data["title"])
        not_before = data.get("not_before")
        return cls(
            destination,
            body_from_json(data["body"]),
            data.get("kind", "reply"),
            datetime.fromisoformat(not_before) if not_before else None,
            data.get("tag"),
            data.get("reply_ctx"),
        )


# -- destinations and bodies as text and JSON (the store keeps them so) --------------------------

STAFF = "staff"


def destination_text(destination: Destination) -> str:
    """Key("telegram","1") → "telegram:1"; Staff() → "staff"; Staff(Key(...)) → "staff:telegram:1"."""
    if isinstance(destination, Staff):
        return STAFF if destination.about is None else f"{STAFF}:{destination.about}"
    return str(destination)


def parse_destination(text: str) -> Destination:
    if text == STAFF:
        return Staff()
    if text.startswith(STAFF + ":"):
        return Staff(Key.parse(text.removeprefix(STAFF + ":")))
    return Key.parse(text)


def route_of(destination: Destination) -> str:
    return STAFF if isinstance(destination, Staff) else destination.channel


def _options(options: tuple[Option, ...]) -> list[list[str]]:
    return [[o.token, o.label] for o in options]


def body_to_json(body: Body) -> dict[str, Any]:
    if isinstance(body, Reply):
        data: dict[str, Any] = {"type": "reply", "key": body.key, "text": body.text}
        if body.choices:
            data["choices"] = _options(body.choices)
        if body.actions:
            data["actions"] = _options(body.actions)
        if body.replaces:
            data["replaces"] = True
        if body.document is not None:
            content = base64.b64encode(body.document.content).decode("ascii")
            data["document"] = {"filename": body.document.filename, "base64": content}
        return data
    if isinstance(body, Forward):
        return {"type": "forward", "channel": body.channel, "ref": body.ref, "caption": body.caption}
    if isinstance(body, Notice):
        return {"type": "notice", "text": body.text}
    raise TypeError(f"not a message body: {body!r}")


def body_from_json(data: dict[str, Any]) -> Body:
    kind = data.get("type")
    if kind == "reply":
        document = data.get("document")
        return Reply(
            data.get("key", ""),
            data.get("text", ""),
            tuple(Option(t, label) for t, label in data.get("choices", [])),
            tuple(Option(t, label) for t, label in data.get("actions", [])),
            bool(data.get("replaces")),
            Document(document["filename"], base64.b64decode(document["base64"])) if document else None,
        )
    if kind == "forward":
        return Forward(data["channel"], data["ref"], data.get("caption", ""))
    if kind == "notice":
        return Notice(data.get("text", ""))
    raise ValueError(f"unknown message body type {kind!r}")
