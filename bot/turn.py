"""One turn of one conversation: a command, a typed answer or a tapped button applied to its state.

The conversation state is plain JSON (saved by the engine after the turn):
    {"v": 1, "lang": "ja", "active": "quote", "suspended": ["quote"],
     "forms": {"quote": {"slots": {...}, "pending": {"channels": ["rakuten"]}}}}
The step a dialog is on is derived from its slots (dialogs/forms.py), never stored.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from bot.markup import to_plain
from dialogs.forms import (
    current_step,
    is_finished,
    is_started,
    match_many,
    match_option,
    normalise,
    without,
)
from dialogs.steps import (
    Ask,
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

if TYPE_CHECKING:
    from datetime import datetime

    from bot.engine import Engine, Inbound, Outcome
    from bot.store import Transaction

STATE_VERSION = 1
HOME = "menu"  # the dialog a conversation rests in when nothing else is going on
DONE = "done"  # the extra option that closes a multi-select
RESUME = "resume"  # the extra option on a finished dialog's menu when another one is waiting


def new_state(locale_hint: str | None) -> dict:
    lang = "en" if (locale_hint or "").lower().startswith("en") else "ja"
    return {"v": STATE_VERSION, "lang": lang, "active": HOME, "suspended": [], "forms": {}}


def parse_command(text: str) -> tuple[str, str]:
    """ "/start@quote_bot now" → ("start", "now")."""
    head, _, args = text.strip()[1:].partition(" ")
    return head.split("@", 1)[0].lower(), args.strip()


class Turn:
    def __init__(
        self, engine: Engine, tx: Transaction, inbound: Inbound, state: dict | None, now: datetime
    ):
        self.engine = engine
        self.tx = tx
        self.inbound = inbound
        self.now = now
        self.first_contact = state is None
        self.state = state or new_state(inbound.locale_hint)
        self.replies: list = []
        self.notice: str | None = None

    # -- state ------------------------------------------------------------------------------------

    @property
    def lang(self) -> str:
        return self.state["lang"]

    @property
    def dialog(self) -> Dialog:
        return self.engine.dialogs[self.state["active"]]

    def form(self, name: str | None = None) -> dict:
        form = self.state["forms"].setdefault(name or self.state["active"], {})
        form.setdefault("slots", {})
        form.setdefault("pending", {})
        return form

    @property
    def slots(self) -> dict:
        return self.form()["slots"]

    # -- output ------------------------------------------------------------------------------------

    def render(self, key: str, **params: Any) -> str:
        return self.engine.texts.render(self.lang, key, **params)

    def say(self, key: str, *, options: tuple = (), edit: bool = False, **params: Any) -> None:
        from bot.engine import Reply

        self.replies.append(Reply(key, self.render(key, **params), tuple(options), edit))

    def toast(self, key: str, **params: Any) -> None:
        self.notice = to_plain(self.render(key, **params))

    def outcome(self) -> Outcome:
        from bot.engine import Outcome

        return Outcome(tuple(self.replies), self.notice)

    def label(self, group: str, code: str) -> str:
        return self.engine.texts.label(self.lang, group, code)

    def _all_labels(self, group: str, code: str) -> list[str]:
        texts = self.engine.texts
        return [texts.label(loc, group, code) for loc in ("ja", "en")]

    # -- entry -------------------------------------------------------------------------------------

    async def run(self) -> None:
        kind, text = self.inbound.kind, self.inbound.text
        if kind == "tap":
            await self.on_tap(text)
        elif kind == "wake":  # a channel (re)opened: show where the conversation stands
            self.prompt()
        elif kind == "media":
            self.say("common/media_unsupported")
            self.prompt()
        elif text.strip().startswith("/"):
            await self.on_command(*parse_command(text))
        else:
            target = self.keyword_dialog(text)
            if target is not None and target != self.state["active"]:
                await self.goto(target)
            else:
                await self.on_text(text)

    def keyword_dialog(self, text: str) -> str | None:
        folded = normalise(text)
        for dialog in self.engine.dialogs.values():
            if any(normalise(word) in folded for word in dialog.keywords):
                return dialog.name
        return None

    # -- commands ----------------------------------------------------------------------------------

    async def on_command(self, name: str, args: str) -> None:
        handler = getattr(self, f"cmd_{name}", None)
        if handler is None:
            self.say("common/unknown_command", command=name[:32])
            self.prompt()
            return
        await handler(args)

    async def cmd_start(self, args: str) -> None:
        await self.goto(HOME)

    async def cmd_quote(self, args: str) -> None:
        await self.goto("quote")

    async def cmd_help(self, args: str) -> None:
        self.say("common/help")
        self.prompt()

    async def cmd_cancel(self, args: str) -> None:
        name = self.state["active"]
        if is_started(self.dialog, self.slots):
            self.state["forms"].pop(name, None)
            self.say("common/cancelled", dialog=name)
        else:
            self.say("common/nothing_to_cancel")
        self.state["active"] = HOME
        await self.advance()

    async def cmd_lang(self, args: str) -> None:
        wanted = normalise(args)[:2]
        if wanted not in ("ja", "en"):
            wanted = "en" if self.lang == "ja" else "ja"
        self.state["lang"] = wanted
        self.say("common/lang_set")
        self.prompt()

    async def cmd_myquotes(self, args: str) -> None:
        quotes = await self.tx.quotes_for(self.inbound.conversation, limit=10)
        self.say("quote/mine", quotes=quotes)
        self.prompt()

    async def cmd_delete(self, args: str) -> None:
        await self.goto("privacy")

    async def cmd_forget(self, args: str) -> None:
        """Delete everything kept about this conversation; what is left is a fresh start."""
        await self.tx.delete_conversation_data(self.inbound.conversation)
        self.state = new_state(self.lang)
        self.say("privacy/deleted")
        self.prompt()

    # -- answers -----------------------------------------------------------------------------------

    def _option_labels(self, step: Choose | MultiChoose | Menu, codes: tuple[str, ...]) -> dict:
        group = step.labels
        labels = {code: self._all_labels(group, code) for code in codes}
        if isinstance(step, MultiChoose):
            labels[DONE] = self._all_labels("menu", DONE)
        return labels

    async def on_text(self, text: str) -> None:
        step = current_step(self.dialog, self.slots)
        name = f"{self.dialog.name}/{step.id}"
        if isinstance(step, Ask):
            try:
                value = step.parse(text)
            except Invalid as e:
                self.say(f"{name}_invalid", code=e.code, **e.params)
                return
            self.slots[step.slot] = value
            await self.advance()
            return
        codes = self.options(step)
        if isinstance(step, MultiChoose):
            chosen = match_many(text, self._option_labels(step, codes))
            if chosen is None:
                self.say(f"{name}_invalid", code="unknown", options=self.buttons(step))
                return
            await self.multi(step, chosen, edit=False)
            return
        chosen = match_option(text, self._option_labels(step, codes))
        if chosen is None:
            if self.first_contact and self.dialog.name == HOME:
                self.prompt()  # someone's first words: greet them rather than scold them
            else:
                self.say(f"{name}_invalid", options=self.buttons(step))
            return
        await self.choose(step, chosen)

    async def on_tap(self, token: str) -> None:
        dialog_name, _, rest = token.partition(".")
        step_id, _, option = rest.partition(".")
        dialog = self.engine.dialogs.get(dialog_name)
        try:
            step = dialog.step(step_id) if dialog else None
        except KeyError:
            step = None
        if isinstance(step, Menu) and step.anytime and option in self.options(step):
            await self.choose(step, option)
            return
        here = current_step(self.dialog, self.slots)
        if step is None or dialog_name != self.dialog.name or here.id != step_id:
            self.toast("common/stale_tap")
            return
        valid = self.options(step) + ((DONE,) if isinstance(step, MultiChoose) else ())
        if option not in valid:
            self.toast("common/stale_tap")
            return
        if isinstance(step, MultiChoose):
            await self.multi(step, [option], edit=True)
        else:
            await self.choose(step, option)

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
        self.slots[step.slot] = option
        await self.advance()

    async def multi(self, step: MultiChoose, chosen: list[str], *, edit: bool) -> None:
        """Toggle each chosen option; "done" closes the question if enough are ticked."""
        pending = self.form()["pending"].setdefault(step.id, [])
        for option in chosen:
            if option == DONE:
                continue
            if option in pending:
                pending.remove(option)
            else:
                pending.append(option)
        if DONE not in chosen:
            self.prompt(edit=edit)
            return
        if len(pending) < step.min_selected:
            if edit:
                self.toast(f"{self.dialog.name}/{step.id}_invalid", code="none_selected")
            else:
                self.say(
                    f"{self.dialog.name}/{step.id}_invalid",
                    code="none_selected",
                    options=self.buttons(step),
                )
            return
        order = self.options(step)
        self.slots[step.slot] = sorted(pending, key=order.index)
        self.form()["pending"].pop(step.id)
        await self.advance()

    # -- actions and flow --------------------------------------------------------------------------

    async def apply(self, action) -> None:
        if isinstance(action, Goto):
            await self.goto(action.dialog)
        elif isinstance(action, Clear):
            form = self.form()
            for slot in action.slots:
                step = next(
                    s for s in self.dialog.steps if not isinstance(s, Menu) and s.slot == slot
                )
                if isinstance(step, MultiChoose) and slot in form["slots"]:
                    form["pending"][step.id] = list(form["slots"][slot])  # edit, don't retype
            form["slots"] = without(self.dialog, form["slots"], action.slots)
            await self.advance()
        elif isinstance(action, Restart):
            self.state["forms"].pop(self.state["active"], None)
            await self.advance()
        elif isinstance(action, Show):
            self.say(action.key)
            self.prompt()
        elif isinstance(action, Command):
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
        target = self.engine.dialogs[name]
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
            context = Context(self.now, self.lang, self.inbound.conversation, self.engine.data)
            computed = step.run(MappingProxyType(self.slots), context)
            results: dict[str, Any] = {}
            for effect in computed.effects:
                results.update(await self.perform(effect))
            self.slots[step.slot] = {**computed.value, **results}
            for message in computed.say:
                self.say(message.key, **message.params, **results)

    def options(self, step: Choose | MultiChoose | Menu) -> tuple[str, ...]:
        codes = options_of(step, MappingProxyType(self.slots))
        if isinstance(step, Menu) and step is self.dialog.steps[-1] and self.state["suspended"]:
            codes = (*codes, RESUME)
        return codes

    def buttons(self, step: Choose | MultiChoose | Menu) -> tuple:
        from bot.engine import Option

        prefix = f"{self.dialog.name}.{step.id}."
        codes = self.options(step)
        if isinstance(step, MultiChoose):
            ticked = self.form()["pending"].get(step.id, [])
            buttons = [
                Option(prefix + c, ("✅ " if c in ticked else "") + self.label(step.labels, c))
                for c in codes
            ]
            return (*buttons, Option(prefix + DONE, self.label("menu", DONE)))
        return tuple(Option(prefix + c, self._button_label(step, c)) for c in codes)

    def _button_label(self, step: Choose | Menu, code: str) -> str:
        if code == RESUME:
            return self.label("menu", f"resume_{self.state['suspended'][-1]}")
        return self.label(step.labels, code)

    def prompt(self, *, edit: bool = False) -> None:
        """Ask the current step's question (again), with its buttons."""
        step = current_step(self.dialog, self.slots)
        buttons = () if isinstance(step, Ask) else self.buttons(step)
        pending = self.form()["pending"].get(step.id, [])
        self.say(
            f"{self.dialog.name}/{step.id}",
            options=buttons,
            edit=edit,
            answers=self.slots,
            pending=pending,
            first_contact=self.first_contact,
        )

    async def perform(self, effect: Effect) -> dict[str, Any]:
        handler = getattr(self, f"effect_{effect.kind}")
        return await handler(**effect.payload)

    async def effect_save_quote(self, quote: dict) -> dict[str, Any]:
        ref = await self.tx.next_reference("Q", f"{self.now:%Y%m%d}")
        await self.tx.save_quote(ref, self.inbound.conversation, quote, self.now)
        return {"ref": ref}
