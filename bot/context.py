"""What the flow's helpers (effects, handoff, commands) may use of a turn, and what every turn is
given: the small, one-way seam between the dialog flow (bot/turn.py) and the parts it calls.

`TurnContext` is the protocol a `Turn` meets; effects, handoff and commands are written against
it, so they import nothing of the flow and the flow imports them (no cycle, not even one for
types). `Resources` is what the engine loads once and hands to every turn. `Do` is a command
declared as data (bot/commands.py): the function the flow runs for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from dialogs.office_hours import OfficeHours

if TYPE_CHECKING:
    from bot.messages import Envelope, Inbound, Option, Reply
    from bot.store import Transaction
    from bot.texts import Texts
    from dialogs.steps import Button, Dialog

DEFAULT_WAIT = timedelta(minutes=15)


@dataclass(frozen=True)
class StaffSettings:
    """There is a staff desk: its office hours, how long a user waits, the staff's language."""

    hours: OfficeHours
    answer_wait: timedelta = DEFAULT_WAIT  # after this, a waiting user is told nobody answered
    locale: str = "ja"
    desk: str = "telegram"  # the channel the staff desk is on (where staff's media lives)


@dataclass(frozen=True)
class Resources:
    """Loaded once at start-up, shared by every turn."""

    texts: Texts
    dialogs: Mapping[str, Dialog]
    data: Mapping[str, Any]  # rate tables... handed to dialog hooks
    staff: StaffSettings | None = None  # None: no staff desk to alert or hand over to

    def staff_text(self, key: str, **params: Any) -> str:
        """A message for staff, in the staff's language."""
        return self.texts.render(self.staff.locale if self.staff else "ja", key, **params)


class TurnContext(Protocol):
    """One turn of one conversation, as effects, handoff and commands see it."""

    setup: Resources
    tx: Transaction
    inbound: Inbound
    now: datetime
    state: dict
    replies: list[Reply]
    attachments: list[Reply]  # files to send after the messages of the same step
    step_results: dict[str, Any]  # what earlier effects of the same step returned

    @property
    def lang(self) -> str: ...

    @property
    def dialog(self) -> Dialog: ...

    @property
    def slots(self) -> dict: ...

    def render(self, key: str, **params: Any) -> str: ...

    def label(self, group: str, code: str) -> str: ...

    def say(
        self, key: str, *, choices: tuple = (), actions: tuple = (), replaces: bool = False, **params: Any
    ) -> None: ...

    def say_buttons(
        self, key: str, buttons: tuple[Button, ...], *, replaces: bool = False, **params: Any
    ) -> None: ...

    def button_options(self, buttons: tuple[Button, ...]) -> tuple[Option, ...]: ...

    def toast(self, key: str, **params: Any) -> None: ...

    async def enqueue(self, envelope: Envelope) -> None: ...

    def prompt(self, *, edit: bool = False) -> None: ...

    async def goto(self, name: str) -> None: ...

    async def advance(self) -> None: ...


@dataclass(frozen=True)
class Do:
    """A command that is code: `run(turn, args)`."""

    run: Callable[[TurnContext, str], Awaitable[None]]
