"""A breadth-first walk of every conversation state a user can reach, from the dialogs as declared.

From /start, every input a person can give is tried at every state reached: each button shown,
each option typed as its number and as its label, free text, an empty line, every command, an
unknown command, a very long text and a photo. A state is named by what the dialogs declare
(`signature`: language, dialog, the step `current_step` finds, dialogs set aside, with staff or
not), so a new step or option is walked without a new test.

Each input starts from a snapshot of the state (the conversation row is written back) instead of
replaying the path from /start, and the app runs on in-memory SQLite: the walk takes seconds.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.app import App
from bot.commands import COMMANDS
from bot.markup import to_plain
from bot.messages import Inbound, Key, Notice, Reply
from dialogs.forms import current_step
from tests.support.transcript import Outcome

_INTERNAL = re.compile(r"seeds/|\b\d{3}_\w+\.txt")
LONG_TEXT = "長い文章です。" * 800  # 5,600 characters: more than Telegram lets anyone send
# Free text: plain, a bare incident word (asks whether it happened), questions about cover.
FREE_TEXT = (
    "よろしくお願いします",
    "hello, what is this?",
    "漏えい",
    "ランサムウェアの補償はありますか",
    "I want a quote for data leak insurance",
)
EXTRA_COMMANDS = ("/lang en", "/lang ja", "/frobnicate", "/START@quote_bot")


@dataclass(frozen=True)
class Step:
    """One input: its kind and text, and how it reads in a failure message."""

    kind: str
    text: str
    shown: str = ""

    def __str__(self) -> str:
        return self.shown or f"{self.kind}:{self.text[:30]!r}"


@dataclass
class Node:
    state: dict
    shown: list[Reply]  # what the bot said on arriving here: the buttons a user can tap
    path: tuple[Step, ...]


@dataclass
class Failure:
    path: tuple[Step, ...]
    step: Step
    problem: str
    said: str

    def __str__(self) -> str:
        route = " → ".join(map(str, (*self.path, self.step)))
        return f"{route}: {self.problem}\n    bot said: {self.said[:300]!r}"


@dataclass
class Walk:
    """The result: the states found (by signature), how many inputs were tried, what failed."""

    states: dict[tuple, tuple[Step, ...]] = field(default_factory=dict)
    inputs: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    staff: bool = False
    dialogs: dict = field(default_factory=dict)


def signature(state: dict, dialogs: dict) -> tuple:
    """A state as the dialogs declare it: where the user is, not what they typed.

    With staff, the bot only relays whatever the step, so the step does not make a new state."""
    active = state["active"]
    if "handoff" in state:
        return (state["lang"], active, None, False, (), True)
    form = state["forms"].get(active, {})
    step = current_step(dialogs[active], form.get("slots", {}))
    ticked = bool(form.get("pending", {}).get(step.id))
    return (state["lang"], active, step.id, ticked, tuple(state["suspended"]), "handoff" in state)


def _plain_label(label: str) -> str:
    return to_plain(label).removeprefix("✅ ").strip()


def inputs_at(node: Node, dialogs: dict) -> list[Step]:
    """Everything a person can send at this state."""
    state = node.state
    active = state["active"]
    step = current_step(dialogs[active], state["forms"].get(active, {}).get("slots", {}))
    steps: list[Step] = []
    prefix = f"{active}.{step.id}."
    prompt_buttons = []
    for reply in node.shown:
        for n, option in enumerate(reply.buttons, start=1):
            steps.append(Step("tap", option.token, f"tap {option.token}"))
            if option.token.startswith(prefix) and "handoff" not in state:
                prompt_buttons.append((n, option))
    for n, option in prompt_buttons:
        steps.append(Step("text", str(n), f"type {n}"))
        label = _plain_label(option.label)
        steps.append(Step("text", label, f"type {label!r}"))
    if "handoff" not in state:
        steps += [Step("text", t, f"type {t!r}") for t in getattr(step, "examples", ())]
    steps += [Step("text", t, f"type {t!r}") for t in FREE_TEXT]
    steps += [
        Step("text", "", "an empty line"),
        Step("text", LONG_TEXT, "a very long text"),
        Step("media", "", "a photo"),
        Step("wake", "", "the chat reopened"),
    ]
    steps += [Step("text", f"/{name}", f"/{name}") for name in COMMANDS]
    steps += [Step("text", c, c) for c in EXTRA_COMMANDS]
    return steps


def _japanese_share(text: str) -> float:
    """How much of a text is kana: English templates have none, Japanese ones plenty."""
    kana = sum(1 for c in text if "\u3040" <= c <= "\u30ff")
    return kana / max(1, len(text))


def problems(outcome: Outcome, relayed: bool, lang: str) -> Iterable[str]:
    """What no reply may be: the generic error, silence, an empty message, an internal name,
    Japanese to an English user."""
    if any(r.key == "common/error" for r in outcome.replies):
        yield "the generic error"
    if not outcome.replies and not outcome.notice and not relayed:
        yield "silence"
    for reply in outcome.replies:
        text = to_plain(reply.text)
        if not text.strip() and reply.document is None:
            yield f"an empty message ({reply.key})"
        if _INTERNAL.search(text):
            yield f"an internal file name ({reply.key})"
        if lang == "en" and _japanese_share(text) > 0.2:
            yield f"Japanese to an English user ({reply.key})"


class Walker:
    def __init__(self, app: App, *, limit: int = 2000):
        self.app = app
        self.dialogs = app.engine.dialogs
        self.limit = limit
        self.conversation = Key("console", "walk")
        self.locale_hint = "ja"
        self._ids = itertools.count(1)

    @staticmethod
    async def _queued(tx) -> int:
        """Rows in the outbox (SQLite's table): a turn that adds one besides its replies relayed."""
        return (await tx._one("SELECT COUNT(*) FROM envelopes WHERE kind != 'reply'"))[0]

    async def _restore(self, state: dict | None) -> int:
        async with self.app.store.transaction() as tx:
            if state is None:
                await tx.delete_conversation_data(self.conversation)
            else:
                now = self.app.engine.clock()
                await tx.save_conversation(self.conversation, copy.deepcopy(state), now)
            return await self._queued(tx)

    async def _state(self) -> tuple[dict, int]:
        async with self.app.store.transaction() as tx:
            return (await tx.load_conversation(self.conversation)).state, await self._queued(tx)

    async def send(self, state: dict | None, step: Step) -> tuple[Outcome, dict, bool]:
        before = await self._restore(state)
        inbound = Inbound(
            self.conversation,
            step.kind,
            step.text,
            event_id=f"walk:{next(self._ids)}",
            locale_hint=self.locale_hint,
            user_name="Walker",
        )
        recorder = self.app.recorder  # type: ignore[attr-defined]
        seen = len(recorder.rows)
        await self.app.engine.accept([inbound])
        await self.app.engine.settle([self.conversation])
        answered = [
            r.body for r in recorder.rows[seen:] if r.destination == self.conversation and r.kind == "reply"
        ]
        notices = [b.text for b in answered if isinstance(b, Notice) and b.text]
        outcome = Outcome(
            tuple(b for b in answered if isinstance(b, Reply)), notices[-1] if notices else None
        )
        state, after = await self._state()
        return outcome, state, after > before

    async def run(self, locales: tuple[str, ...] = ("ja", "en")) -> Walk:
        """Walk from a first /start in each language (the platform's language decides)."""
        walk = Walk()
        queue: deque[Node] = deque()
        for locale in locales:
            self.locale_hint = locale
            start = Step("text", "/start", f"/start ({locale} user)")
            outcome, state, _ = await self.send(None, start)
            walk.inputs += 1
            found = problems(outcome, False, state["lang"])
            walk.failures += [Failure((), start, p, _said(outcome)) for p in found]
            if signature(state, self.dialogs) not in walk.states:
                walk.states[signature(state, self.dialogs)] = (start,)
                queue.append(Node(state, list(outcome.replies), (start,)))
        while queue:
            node = queue.popleft()
            for step in inputs_at(node, self.dialogs):
                outcome, state, relayed = await self.send(node.state, step)
                walk.inputs += 1
                for problem in problems(outcome, relayed, state["lang"]):
                    walk.failures.append(Failure(node.path, step, problem, _said(outcome)))
                key = signature(state, self.dialogs)
                if key not in walk.states and len(walk.states) < self.limit:
                    walk.states[key] = (*node.path, step)
                    queue.append(Node(state, list(outcome.replies), (*node.path, step)))
        return walk


def _said(outcome: Outcome) -> str:
    return " | ".join(to_plain(r.text) for r in outcome.replies) or f"(notice) {outcome.notice}"
