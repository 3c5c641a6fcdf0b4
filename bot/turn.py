"""One turn of one conversation: a command, a typed answer or a tapped button applied to its state.

The state's shape is described in bot/state.py; the step a dialog is on is derived from its
slots (dialogs/forms.py), never stored.
"""

from __future__ import annotations

import re
import unicodedata
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from bot import handoff
from bot.commands import COMMANDS, CONFIRMED
from bot.context import Do, Resources
from bot.effects import EFFECTS, toggle_checklist
from bot.markup import to_plain
from bot.messages import Envelope, Inbound, Option, Reply, question_of
from bot.state import DONE, HOME, RESUME, new_state, parse_command
from bot.texts import LOCALES
from dialogs.forms import (
    current_step,
    is_finished,
    is_started,
    match_many,
    match_option,
    without,
)
from dialogs.handoff import wants_staff
from dialogs.incident import parse_checklist_token
from dialogs.steps import (
    Ask,
    Button,
    Choose,
    Clear,
    Command,
    Compute,
    Context,
    Dialog,
    Effect,
    Goto,
    Invalid,
    Menu,
    MultiChoose,
    Restart,
    Show,
    options_of,
)
from dialogs.words import FAQ, INCIDENT, QUOTE, UNSURE, read_intent

if TYPE_CHECKING:
    from datetime import datetime

    from bot.store import Transaction


def parse_tap(token: str) -> tuple[str, str, str, str | None, int | None]:
    """ "quote.channels.rakuten.1.v4" → ("quote", "channels", "rakuten", "1", 4): dialog, step,
    option, the state a multi-select button sets ("1" tick, "0" untick) and the keyboard's
    version; the last two are None on buttons without them."""
    dialog, _, rest = token.partition(".")
    step, _, rest = rest.partition(".")
    option, *extra = rest.split(".")
    version = None
    if extra and extra[-1][:1] == "v" and extra[-1][1:].isdigit():
        version = int(extra.pop()[1:])
    target = extra.pop() if extra and extra[-1] in ("0", "1") else None
    if extra:  # something no button of ours sends
        return dialog, step, rest, None, None
    return dialog, step, option, target, version


_NUMBERS = re.compile(r"\s*\d+(?:[\s,、，/／;；・]+\d+)*\s*")


class Turn:
    def __init__(
        self, setup: Resources, tx: Transaction, inbound: Inbound, state: dict | None, now: datetime
    ):
        self.setup = setup
        self.tx = tx
        self.inbound = inbound
        self.now = now
        self.first_contact = state is None
        self.state = state or new_state(inbound.locale_hint)
        self.replies: list = []
        self.notice: str | None = None
        self.queued: list[Envelope] = []  # what this turn put in the outbox besides its replies
        self.attachments: list = []  # files to send after the messages of the same step
        self.step_results: dict[str, Any] = {}  # what earlier effects of the same step returned
        self.answered: list[str] = []  # slots answered in this turn (a prompt may echo them)
        self.heard: str | None = None  # the labels a typed number stood for (the transcript's line)

    # -- state ------------------------------------------------------------------------------------

    @property
    def lang(self) -> str:
        return self.state["lang"]

    @property
    def dialog(self) -> Dialog:
        return self.setup.dialogs[self.state["active"]]

    def form(self, name: str | None = None) -> dict:
        form = self.state["forms"].setdefault(name or self.state["active"], {})
        form.setdefault("slots", {})
        form.setdefault("pending", {})
        return form

    @property
    def slots(self) -> dict:
        return self.form()["slots"]

    @property
    def where(self) -> str:
        """Where the conversation rests now, for logs and metrics: "quote.industry", "menu"."""
        try:
            step = current_step(self.dialog, self.slots)
        except (KeyError, ValueError):
            return str(self.state.get("active"))
        slot = getattr(step, "slot", None)
        return f"{self.state['active']}.{slot}" if slot else self.state["active"]

    @property
    def open_question(self) -> str | None:
        """The question the conversation waits on now, as its prompt's choices carry it
        (Reply.question); None when it waits for typed words or for nothing."""
        try:
            step = current_step(self.dialog, self.slots)
        except (KeyError, ValueError):
            return None
        if not isinstance(step, Choose | MultiChoose | Menu):
            return None
        return question_of(self.buttons(step))

    # -- output ------------------------------------------------------------------------------------

    def render(self, key: str, **params: Any) -> str:
        return self.setup.texts.render(self.lang, key, **params)

    def say(
        self,
        key: str,
        *,
        choices: tuple = (),
        actions: tuple = (),
        replaces: bool = False,
        **params: Any,
    ) -> None:
        text = self.render(key, **params)
        self.replies.append(Reply(key, text, tuple(choices), tuple(actions), replaces))

    def say_buttons(self, key: str, buttons: tuple[Button, ...], *, replaces=False, **params: Any) -> None:
        """A card with buttons chosen by a hook (a checklist) rather than by a step: actions."""
        self.say(key, actions=self.button_options(buttons), replaces=replaces, **params)

    def button_options(self, buttons: tuple[Button, ...]) -> tuple[Option, ...]:
        """Hook buttons as the channel sees them: token and label, ✅ when ticked."""
        return tuple(
            Option(b.token, ("✅ " if b.ticked else "") + self.label(b.labels, b.code)) for b in buttons
        )

    async def enqueue(self, envelope: Envelope) -> None:
        await self.tx.enqueue(envelope, self.now)
        self.queued.append(envelope)

    @property
    def context(self) -> Context:
        return Context(self.now, self.lang, str(self.inbound.conversation), self.setup.data)

    def toast(self, key: str, **params: Any) -> None:
        self.notice = to_plain(self.render(key, **params))

    def label(self, group: str, code: str) -> str:
        return self.setup.texts.label(self.lang, group, code)

    def _all_labels(self, group: str, code: str) -> list[str]:
        texts = self.setup.texts
        return [texts.label(loc, group, code) for loc in LOCALES]

    # -- entry -------------------------------------------------------------------------------------

    async def run(self) -> None:
        if self.state.get("handoff"):
            await self.with_staff()
            return
        await self.respond()

    async def respond(self) -> None:
        """The bot's own answer to the event (no person owns the conversation, or the incident
        help runs alongside one)."""
        kind, text = self.inbound.kind, self.inbound.text
        if kind == "tap" and text == handoff.BACK:
            await handoff.leave(self, by="user")
        elif kind == "tap":
            await self.on_tap(text)
        elif kind == "wake":  # a channel (re)opened: show where the conversation stands
            self.prompt()
        elif kind == "media":
            self.say("common/media_unsupported")
            self.prompt()
        elif text.strip().startswith("/"):
            await self.on_command(*parse_command(text))
        else:
            target = self.intent_dialog(text)
            # In the dialog already, the words are an answer; resting on its finished menu, they
            # are news: a new report (a menu takes no free text anyway).
            active = self.state["active"]
            if target is not None and (target != active or is_finished(self.dialog, self.slots)):
                if target == FAQ:  # a question about cover: its answer, then the other topics
                    self.say("faq/what_is_covered")
                await self.goto(target)
            elif wants_staff(text):
                await handoff.open_ticket(self)
            else:
                await self.on_text(text)

    async def with_staff(self) -> None:
        """A person owns the conversation: relay, except /bot and the incident words.

        Incident words (or /incident) keep the ticket and the relay: the incident help runs
        alongside (state["handoff"]["incident"]) while the report is being answered. Each typed
        message is still relayed to the user's topic and answered by the dialog; the record's
        staff notices go to the topic too (bot/effects.py). Once the report's questions are
        answered, or the user leaves the incident dialog, the quiet relay resumes."""
        kind, text = self.inbound.kind, self.inbound.text
        typed = kind in ("text", "command")  # a platform's command button is the command typed
        command = parse_command(text)[0] if typed and text.strip().startswith("/") else None
        ticket = self.state["handoff"]
        alongside = ticket.get("incident") and self.state["active"] == INCIDENT
        if not alongside:
            ticket.pop("incident", None)
        answering = alongside and not is_finished(self.dialog, self.slots)
        if (kind == "tap" and text == handoff.BACK) or command == "bot":
            await handoff.leave(self, by="user")
        elif alongside and (kind == "tap" or (answering and typed)):
            if kind == "text" and command is None:
                await handoff.relay_from_user(self, acknowledge=False)  # staff keep seeing it
            await self.respond()
        elif command == "incident" or (kind == "text" and read_intent(text) == INCIDENT):
            await handoff.relay_from_user(self, acknowledge=False)  # staff see it; the ticket stays open
            ticket["incident"] = True
            await self.goto("incident")
        elif kind == "wake":
            self.say("handoff/still_with_staff", actions=handoff.back_button(self))
        elif kind == "tap":
            self.toast("handoff/with_staff")
        else:
            await handoff.relay_from_user(self)

    def intent_dialog(self, text: str) -> str | None:
        """The dialog typed words point to (dialogs/words.py), where following them is right:
        a question about cover only where no answer is expected (at a menu), and "漏えい" inside
        the incident report is an answer, not a reason to ask whether it happened."""
        intent = read_intent(text)
        at_rest = isinstance(current_step(self.dialog, self.slots), Menu)
        if intent in (QUOTE, FAQ) and not at_rest:
            return None
        if intent == UNSURE and self.state["active"] == INCIDENT and not at_rest:
            return None
        return intent

    # -- commands ----------------------------------------------------------------------------------

    async def on_command(self, name: str, args: str) -> None:
        action = COMMANDS.get(name)
        if action is None:
            self.say("common/unknown_command", command=name[:32])
            self.prompt()
            return
        await self.apply(action, args)

    # -- answers -----------------------------------------------------------------------------------

    def _option_labels(self, step: Choose | MultiChoose | Menu, codes: tuple[str, ...]) -> dict:
        """Every label each option's button can show, in every language: typed, it counts."""
        labels = {code: [self._button_label(step, code, loc) for loc in LOCALES] for code in codes}
        if isinstance(step, MultiChoose):
            labels[DONE] = self._all_labels("menu", DONE)
        return labels

    async def on_text(self, text: str) -> None:
        step = current_step(self.dialog, self.slots)
        name = f"{self.dialog.name}/{step.id}"
        if isinstance(step, Ask):
            try:
                value = step.parse(text, self.context)
            except Invalid as e:
                self.say(f"{name}_invalid", code=e.code, **e.params)
                return
            self.slots[step.slot] = value
            self.answered.append(step.slot)
            await self.advance()
            return
        codes = self.options(step)
        if isinstance(step, MultiChoose):
            chosen = match_many(text, self._option_labels(step, codes))
            if chosen is None:
                self.say(f"{name}_invalid", code="unknown", choices=self.buttons(step))
                return
            self._hear_numbers(text, step, chosen)
            await self.multi(step, chosen, edit=False)
            return
        chosen = match_option(text, self._option_labels(step, codes))
        if chosen is None and isinstance(step, Choose) and step.parse is not None:
            try:
                self.slots[step.slot] = step.parse(text, self.context)
            except Invalid as e:
                self.say(f"{name}_invalid", code=e.code, choices=self.buttons(step), **e.params)
                return
            self.answered.append(step.slot)
            await self.advance()
            return
        if chosen is None:
            if self.first_contact and self.dialog.name == HOME:
                self.prompt()  # someone's first words: greet them rather than scold them
            else:
                self.say(f"{name}_invalid", choices=self.buttons(step))
            return
        self._hear_numbers(text, step, [chosen])
        await self.choose(step, chosen)

    def _hear_numbers(self, text: str, step: Choose | MultiChoose | Menu, chosen: list[str]) -> None:
        """Typed button numbers ("2", "1 3") are kept in the transcript as the labels they stood
        for: staff reading a ticket's header never saw the numbered list."""
        if not _NUMBERS.fullmatch(unicodedata.normalize("NFKC", text)):
            return
        labels = [
            self.label("menu", DONE) if code == DONE else self._button_label(step, code, self.lang)
            for code in chosen
        ]
        self.heard = ", ".join(to_plain(label) for label in labels)

    async def on_tap(self, token: str) -> None:
        checklist = parse_checklist_token(token)
        if checklist is not None:  # a checklist item's tick (dialogs/incident.py owns the token)
            await toggle_checklist(self, *checklist)
            return
        dialog_name, step_id, option, target, version = parse_tap(token)
        dialog = self.setup.dialogs.get(dialog_name)
        try:
            step = dialog.step(step_id) if dialog else None
        except KeyError:
            step = None
        if isinstance(step, Menu) and step.anytime and option in self.options(step):
            await self.choose(step, option)
            return
        here = current_step(self.dialog, self.slots)
        if step is None or dialog_name != self.dialog.name or here.id != step_id:
            self.stale_tap()  # an older question's button
            return
        if not isinstance(step, Choose | MultiChoose | Menu):
            self.stale_tap()  # data no button of this step sends (forged, or from an old version)
            return
        valid = self.options(step) + ((DONE,) if isinstance(step, MultiChoose) else ())
        if option not in valid:
            self.stale_tap()
            return
        if isinstance(step, MultiChoose):
            if version != self.keyboard_version or (option != DONE and target is None):
                # A keyboard that is not the current one (a double tap, an older copy): it
                # changes nothing; the tapped message is brought up to date instead.
                self.toast("common/stale_keyboard")
                self.prompt(edit=True)
                return
            await self.multi_set(step, option, target == "1")
        else:
            await self.choose(step, option)

    def stale_tap(self) -> None:
        """A short notice and the question that is open now, never a silent change."""
        self.toast("common/stale_tap")
        self.prompt()

    @property
    def keyboard_version(self) -> int:
        """Changes whenever a multi-select keyboard's ticks change or its question closes; its
        buttons carry it, so a tap on any other copy of that keyboard is recognised."""
        return self.state.get("keyboard", 0)

    def _next_keyboard(self) -> None:
        self.state["keyboard"] = self.keyboard_version + 1

    async def choose(self, step: Choose | Menu, option: str) -> None:
        if isinstance(step, Menu):
            if option == RESUME:
                if self.state["suspended"]:
                    await self.goto(self.state["suspended"].pop())
                else:
                    self.prompt()
                return
            await self.apply(step.action(option, MappingProxyType(self.slots)))
            return
        if isinstance(step, Choose) and option in step.actions:
            await self.apply(step.actions[option])
            return
        self.slots[step.slot] = option
        self.answered.append(step.slot)
        await self.advance()

    async def multi(self, step: MultiChoose, chosen: list[str], *, edit: bool) -> None:
        """Typed choices: toggle each chosen option; "done" closes the question if enough are ticked."""
        pending = self.form()["pending"].setdefault(step.id, [])
        for option in chosen:
            if option == DONE:
                continue
            if option in pending:
                pending.remove(option)
            else:
                pending.append(option)
        if any(option != DONE for option in chosen):
            self._next_keyboard()
        if DONE not in chosen:
            self.prompt(edit=edit)
            return
        await self._close_multi(step, edit=edit)

    async def multi_set(self, step: MultiChoose, option: str, ticked: bool) -> None:
        """A tapped button of the current keyboard: set that option's tick (or close with "done")."""
        if option == DONE:
            await self._close_multi(step, edit=True)
            return
        pending = self.form()["pending"].setdefault(step.id, [])
        if ticked and option not in pending:
            pending.append(option)
        elif not ticked and option in pending:
            pending.remove(option)
        self._next_keyboard()
        self.prompt(edit=True)

    async def _close_multi(self, step: MultiChoose, *, edit: bool) -> None:
        pending = self.form()["pending"].setdefault(step.id, [])
        if len(pending) < step.min_selected:
            if edit:
                self.toast(f"{self.dialog.name}/{step.id}_invalid", code="none_selected")
            else:
                self.say(
                    f"{self.dialog.name}/{step.id}_invalid",
                    code="none_selected",
                    choices=self.buttons(step),
                )
            return
        order = self.options(step)
        self.slots[step.slot] = sorted(pending, key=order.index)
        self.form()["pending"].pop(step.id)
        self._next_keyboard()  # the closed keyboard's buttons are old from now on
        await self.advance()

    # -- actions and flow --------------------------------------------------------------------------

    async def apply(self, action, args: str = "") -> None:
        """Carry out an action a menu or a command declares."""
        if isinstance(action, Do):
            await action.run(self, args)
        elif isinstance(action, Goto):
            await self.goto(action.dialog)
        elif isinstance(action, Clear):
            form = self.form()
            for slot in action.slots:
                step = next(s for s in self.dialog.steps if not isinstance(s, Menu) and s.slot == slot)
                if isinstance(step, MultiChoose) and slot in form["slots"]:
                    form["pending"][step.id] = list(form["slots"][slot])  # edit, don't retype
            form["slots"] = without(self.dialog, form["slots"], action.slots)
            await self.advance()
        elif isinstance(action, Restart):
            self.state["forms"].pop(self.state["active"], None)
            await self.advance()
        elif isinstance(action, Show):
            self.say(action.key, answers=self.slots)  # details of a result read its answers
            self.prompt()
        elif isinstance(action, Command):
            if action.name in CONFIRMED:
                await self.apply(CONFIRMED[action.name])
            else:
                await self.on_command(action.name, "")
        else:
            raise TypeError(f"unknown action {action!r}")

    async def goto(self, name: str) -> None:
        """Switch to a dialog, setting aside an unfinished one so it can be resumed."""
        current = self.state["active"]
        suspended = self.state["suspended"]
        if (
            current != name
            and is_started(self.dialog, self.slots)
            and not is_finished(self.dialog, self.slots)
        ):
            suspended[:] = [d for d in suspended if d != current] + [current]
        if name in suspended:
            suspended.remove(name)
        target = self.setup.dialogs[name]
        if is_finished(target, self.form(name)["slots"]):
            self.state["forms"].pop(name, None)  # a finished dialog starts afresh
        self.state["active"] = name
        await self.advance()

    async def advance(self) -> None:
        """Run computed steps until a question or a menu, then ask it."""
        while True:
            step = current_step(self.dialog, self.slots)
            if not isinstance(step, Compute):
                self.prompt()
                return
            computed = step.run(MappingProxyType(self.slots), self.context)
            results = self.step_results = {}
            for effect in computed.effects:
                results.update(await self.perform(effect))
            self.slots[step.slot] = {**computed.value, **results}
            for message in computed.say:
                self.say_buttons(message.key, message.buttons, **{**message.params, **results})
            self.replies += self.attachments
            self.attachments.clear()

    def options(self, step: Choose | MultiChoose | Menu) -> tuple[str, ...]:
        codes = options_of(step, MappingProxyType(self.slots))
        if isinstance(step, Choose):
            codes = (*codes, *step.actions)
        if isinstance(step, Menu) and step is self.dialog.steps[-1] and self.state["suspended"]:
            codes = (*codes, RESUME)
        return codes

    def buttons(self, step: Choose | MultiChoose | Menu) -> tuple:
        prefix = f"{self.dialog.name}.{step.id}."
        codes = self.options(step)
        if isinstance(step, MultiChoose):
            # Each button sets a state ("tick rakuten", "untick own_ec") on this version of the keyboard.
            ticked, v = self.form()["pending"].get(step.id, []), self.keyboard_version
            boxes = self.button_options(
                tuple(
                    Button(f"{prefix}{c}.{0 if c in ticked else 1}.v{v}", step.labels, c, c in ticked)
                    for c in codes
                )
            )
            return (*boxes, Option(f"{prefix}{DONE}.v{v}", self.label("menu", DONE)))
        return tuple(Option(prefix + c, self._button_label(step, c)) for c in codes)

    def _button_label(self, step: Choose | MultiChoose | Menu, code: str, locale: str | None = None) -> str:
        """The one place an option's label is chosen, for its button and for matching typed text."""
        group, name = step.labels, code
        if code == RESUME:  # "back to my quote": named after the dialog it returns to
            group, name = "menu", f"resume_{self.state['suspended'][-1]}"
        elif isinstance(step, Choose) and code in step.actions:
            group = "menu"
        return self.setup.texts.label(locale or self.lang, group, name)

    def prompt(self, *, edit: bool = False) -> None:
        """Ask the current step's question (again), with its buttons."""
        step = current_step(self.dialog, self.slots)
        buttons = () if isinstance(step, Ask) else self.buttons(step)
        pending = self.form()["pending"].get(step.id, [])
        self.say(
            f"{self.dialog.name}/{step.id}",
            choices=buttons,
            replaces=edit,
            answers=self.slots,
            pending=pending,
            first_contact=self.first_contact,
            answered=self.answered,
        )

    async def perform(self, effect: Effect) -> dict[str, Any]:
        return await EFFECTS[effect.kind](self, **effect.payload)
