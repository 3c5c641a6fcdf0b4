"""Transcript tests that read like the chat: a user sends, taps and types; the bot answers.

    await chat.user("/quote")      -> chat.expect("quote/revenue")
    await chat.tap("retail")       -> taps the button whose token ends in ".retail"
The engine is the real one, on a real SQLite file, with the real templates and a fixed clock.
Each message goes in the one way every channel uses (`engine.accept`, then its turn runs) and
what the bot answers is what the console route's sender is handed by the outbox.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.app import App, open_app
from bot.markup import to_plain
from bot.messages import Envelope, Inbound, Key, Notice, Reply
from bot.outbox import OutboxRow
from bot.turn import parse_tap
from rates.coverage import JST

# Sunday 22 November 2026, 10:00 JST: "today" in every transcript unless a test moves it.
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=JST)


class Clock:
    """An injected clock that tests move by hand."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


class Recorder:
    """A sender that keeps what it is given (and says it was sent)."""

    def __init__(self):
        self.rows: list[OutboxRow] = []

    async def deliver(self, rows: Sequence[OutboxRow]) -> None:
        for row in rows:
            self.rows.append(row)
            await row.sent()

    def envelopes(self, destination=None) -> list[Envelope]:
        return [r.envelope for r in self.rows if destination in (None, r.destination)]


@dataclass(frozen=True)
class Outcome:
    """What a turn answered the user: its replies, and the toast for a tap."""

    replies: tuple[Reply, ...] = ()
    notice: str | None = None
    duplicate: bool = False  # the inbox already had this event id


@dataclass
class Chat:
    app: App
    conversation: str = "console:test"
    locale_hint: str | None = "ja"
    user_name: str | None = None  # the platform's display name (staff alerts show it)
    replies: list[Reply] = field(default_factory=list)  # of the last turn
    history: list[Reply] = field(default_factory=list)  # every reply so far
    outcome: Outcome | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def _handle(self, kind: str, text: str, event_id: str | None = None) -> list[Reply]:
        event_id = event_id or f"{self.conversation}:{next(self._ids)}"
        key = Key.parse(self.conversation)
        inbound = Inbound(
            key,
            kind,
            text,
            event_id=event_id,
            locale_hint=self.locale_hint,
            user_name=self.user_name,
        )
        recorder: Recorder = self.app.recorder  # type: ignore[attr-defined]
        before = len(recorder.rows)
        accepted = await self.app.engine.accept([inbound])
        await self.app.engine.settle([key])
        answered = [r.body for r in recorder.rows[before:] if r.destination == key and r.kind == "reply"]
        notices = [b.text for b in answered if isinstance(b, Notice) and b.text]
        replies = tuple(b for b in answered if isinstance(b, Reply))
        self.outcome = Outcome(replies, notices[-1] if notices else None, duplicate=accepted == 0)
        self.replies = list(replies)
        self.history += self.replies
        return self.replies

    async def user(self, text: str, *, event_id: str | None = None) -> list[Reply]:
        return await self._handle("text", text, event_id)

    async def media(self) -> list[Reply]:
        return await self._handle("media", "")

    async def tap(self, option: str) -> list[Reply]:
        """Tap the button (of the latest message that has one) whose token ends in `.option`."""
        return await self._handle("tap", self.token(option))

    async def tap_token(self, token: str) -> list[Reply]:
        return await self._handle("tap", token)

    def token(self, option: str) -> str:
        for reply in reversed(self.history):
            for button in reply.buttons:
                if button.token.endswith("." + option) or parse_tap(button.token)[2] == option:
                    return button.token
        shown = [o.token for r in self.history[-3:] for o in r.buttons]
        raise AssertionError(f"no button {option!r} among {shown}")

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.replies]

    @property
    def text(self) -> str:
        """Everything the bot said in the last turn, as plain text."""
        return "\n".join(to_plain(r.text) for r in self.replies)

    def labels(self) -> list[str]:
        return [to_plain(o.label) for r in self.replies for o in r.buttons]

    def expect(self, *keys: str) -> None:
        assert self.keys == list(keys), f"bot said {self.keys}, expected {list(keys)}:\n{self.text}"


async def open_chat_app(db: Path, clock: Clock, env: dict | None = None) -> App:
    """The app as `quotebot chat` builds it, with a recording sender for console conversations."""
    app = await open_app(str(db), env=env or {}, clock=clock)
    app.recorder = Recorder()  # type: ignore[attr-defined]
    for route in ("console", "telegram", "line"):  # a channel's own sender may replace it
        app.register(route, app.recorder)  # type: ignore[attr-defined]
    return app
