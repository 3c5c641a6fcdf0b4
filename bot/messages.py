"""The messages that cross between channels and the engine, in platform-neutral terms."""

from __future__ import annotations

import base64
from dataclasses import dataclass


@dataclass(frozen=True)
class Inbound:
    """One thing a user did, in platform-neutral terms."""

    conversation: str  # "<channel>:<platform chat id>", e.g. "telegram:12345"
    kind: str  # "text" (commands included: "/start"), "tap" (a button's token) or "media"
    text: str = ""
    event_id: str | None = None  # the platform's id, for dropping redeliveries
    locale_hint: str | None = None  # e.g. Telegram's language_code
    user_name: str | None = None
    ref: str | None = None  # the platform's message ("<chat>:<message>"), to copy media to staff

    @property
    def channel(self) -> str:
        return self.conversation.split(":", 1)[0]


@dataclass(frozen=True)
class StaffInbound:
    """A message staff wrote in a customer's topic of the staff group."""

    thread: int  # the topic (Telegram message_thread_id)
    kind: str  # "text" (staff commands included: "/close") or "media"
    text: str = ""
    ref: str | None = None
    event_id: str | None = None


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
    """A message for the user: Telegram-HTML text and buttons, or a file with a caption."""

    key: str  # the template it was rendered from (for tests and logs)
    text: str
    options: tuple[Option, ...] = ()
    edit: bool = False  # replace the message whose button was tapped (multi-select keyboards)
    document: Document | None = None


@dataclass(frozen=True)
class Outcome:
    replies: tuple[Reply, ...] = ()
    notice: str | None = None  # a short toast for a tapped button, where the platform has one
    duplicate: bool = False


def reply_payload(reply: Reply) -> dict:
    """A reply as an outbox row: the same text, buttons or file, sent later."""
    payload = {"text": reply.text, "buttons": [[o.token, o.label] for o in reply.options]}
    if reply.document is not None:
        content = base64.b64encode(reply.document.content).decode("ascii")
        payload["document"] = {"filename": reply.document.filename, "base64": content}
    return payload
