"""The vocabulary dialogs are declared in: steps, what hooks return, and menu actions.

A dialog is a tuple of steps with stable string ids. Question steps fill a named slot; the
step a conversation is on is the first whose slot is empty, so saved answers survive a
reorder and "change one answer" is just clearing that slot. The prompt of a step is the
template "<dialog>/<step>", its reprompt "<dialog>/<step>_invalid".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Slots = Mapping[str, Any]
Options = tuple[str, ...] | Callable[[Slots], tuple[str, ...]]


class Invalid(Exception):
    """An answer a parser could not accept; `code` and `params` feed the reprompt template."""

    def __init__(self, code: str = "invalid", **params: Any):
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Context:
    """What a hook may know besides the answers: the time, the language, loaded data."""

    now: datetime
    locale: str
    conversation: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Button:
    """A button a hook puts under a message: its token and the label (group, code) it shows."""

    token: str
    labels: str
    code: str
    ticked: bool = False


@dataclass(frozen=True)
class Say:
    """A message to send: a template key and its parameters, optionally with buttons."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class Effect:
    """Something only the engine can do (store a record, alert staff); results feed templates."""

    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Computed:
    """What a Compute hook returns: the slot value, messages, and effects for the engine."""

    value: Mapping[str, Any]
    say: tuple[Say, ...] = ()
    effects: tuple[Effect, ...] = ()


# -- menu actions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goto:
    """Start (or resume, if unfinished) another dialog."""

    dialog: str


@dataclass(frozen=True)
class Clear:
    """Forget these answers so they are asked again; later computed results go with them."""

    slots: tuple[str, ...]


@dataclass(frozen=True)
class Restart:
    """Forget every answer of the current dialog."""


@dataclass(frozen=True)
class Show:
    """Send a template and stay on the same menu."""

    key: str


@dataclass(frozen=True)
class Command:
    """Do what the slash command of that name does (e.g. "staff")."""

    name: str


Action = Goto | Clear | Restart | Show | Command


# -- steps -------------------------------------------------------------------------------------


Parse = Callable[[str, Context], Any]


@dataclass(frozen=True)
class Ask:
    """A free-text question; `parse(text, context)` returns the slot value or raises Invalid."""

    id: str
    parse: Parse
    slot: str
    # Answers people give here, read by the walk test (tests/test_walk.py) to go past the step.
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choose:
    """One choice from buttons (typed label or number counts too).

    With `parse`, typed text that matches no button is parsed instead (a typed date).
    With `ask_if`, the question is asked only when `ask_if(slots)` is true (a confirmation
    that only some answers need); otherwise the walk passes it by, unanswered.
    """

    id: str
    options: Options
    labels: str  # the labels.toml group that names the options
    slot: str
    parse: Parse | None = None
    examples: tuple[str, ...] = ()  # typed answers `parse` takes (a date), for the walk test
    ask_if: Callable[[Slots], bool] | None = None
    # Extra buttons that act instead of answering (labels in the "menu" group), listed last:
    # {"withdraw": Command("withdraw")} lets a report opened by mistake be withdrawn in one tap.
    actions: Mapping[str, Action] = field(default_factory=dict)


@dataclass(frozen=True)
class MultiChoose:
    """Several choices, toggled with ✅ on a keyboard edited in place, then "done"."""

    id: str
    options: Options
    labels: str
    slot: str
    min_selected: int = 1


@dataclass(frozen=True)
class Compute:
    """Runs a pure hook once all earlier slots are filled; its value fills `slot`."""

    id: str
    run: Callable[[Slots, Context], Computed]
    slot: str


@dataclass(frozen=True)
class Menu:
    """Where a dialog rests: buttons that each lead to an action. Never filled."""

    id: str
    options: Options
    actions: Mapping[str, Action] | Callable[[str, Slots], Action]
    labels: str = "menu"
    # A menu whose buttons mean the same whenever they are tapped (the /start menu).
    anytime: bool = False

    def action(self, option: str, slots: Slots) -> Action:
        return self.actions(option, slots) if callable(self.actions) else self.actions[option]


Step = Ask | Choose | MultiChoose | Compute | Menu
QUESTION_STEPS = (Ask, Choose, MultiChoose)


@dataclass(frozen=True)
class Dialog:
    name: str
    steps: tuple[Step, ...]
    # Words that start this dialog from anywhere (matched on normalised text), e.g. 漏えい.
    keywords: tuple[str, ...] = ()

    def __post_init__(self):
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError(f"dialog {self.name}: duplicate step ids {ids}")
        slots = [s.slot for s in self.steps if not isinstance(s, Menu)]
        if len(set(slots)) != len(slots):
            raise ValueError(f"dialog {self.name}: two steps fill the same slot")

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"dialog {self.name} has no step {step_id!r}")


def is_asked(step: Step, slots: Slots) -> bool:
    """False for a conditional question whose condition does not hold (it is passed by)."""
    condition = getattr(step, "ask_if", None)
    return condition is None or bool(condition(slots))


def options_of(step: Choose | MultiChoose | Menu, slots: Slots) -> tuple[str, ...]:
    return step.options(slots) if callable(step.options) else step.options
