"""The slash commands a user can type at any step (/start, /quote, /cancel, /lang, ...), as data.

`COMMANDS` maps each name to an action the flow (bot/turn.py) carries out, the same actions a
menu declares (dialogs/steps.py: Goto a dialog, Show a message), or `Do(function)` for those
that are code: `async def name(turn, args)` on the turn's small context (bot/context.py).
After showing something, a command asks the current question again so the user never loses
their place.
"""

from __future__ import annotations

from bot import handoff
from bot.context import Do
from bot.context import TurnContext as Turn
from bot.effects import EFFECTS
from bot.state import HOME, new_state
from dialogs.forms import is_finished, normalise
from dialogs.incident import checklist_buttons, today_jst
from dialogs.steps import Goto, Show


async def latest_incident(turn: Turn) -> dict | None:
    """The newest assessed incident of this conversation, or None."""
    # Not simply the newest: a second report still in triage has no checklist yet.
    incidents = await turn.tx.incidents_for(turn.inbound.conversation, limit=20)
    return next((i for i in incidents if "checklist" in i), None)


async def cmd_checklist(turn: Turn, args: str) -> None:
    """The latest incident's checklist, with its toggles."""
    record = await latest_incident(turn)
    opened = turn.state["forms"].get("incident", {}).get("slots", {}).get("opened")
    if record is None and opened and turn.state["active"] == "incident" and "assessed" not in turn.slots:
        # Still answering the first report: the record is open; its checklist comes at the end.
        turn.say("common/checklist_after_questions", ref=opened.get("incident_ref"))
    elif record is None:
        turn.say("incident/none")
    else:
        ref, items = record["ref"], record["checklist"]
        buttons = checklist_buttons(ref, items)
        turn.say_buttons("incident/checklist", buttons, ref=ref, items=items, today=today_jst(turn.now))
    turn.prompt()


async def cmd_document(turn: Turn, args: str) -> None:
    """The latest incident's summary file again."""
    record = await latest_incident(turn)
    if record is None:
        turn.say("incident/none")
    else:
        filename = f"{record['ref']}.txt"
        await EFFECTS["send_document"](turn, "incident/document", record, filename)
        turn.replies += turn.attachments
        turn.attachments.clear()
    turn.prompt()


async def end_open_incident(turn: Turn, how: str) -> bool:
    """An incident report left before its assessment ("withdrawn": opened by mistake,
    "cancelled": /cancel): the record says so, and staff, if they were alerted, are told."""
    slots = turn.state["forms"].get("incident", {}).get("slots", {})
    opened = slots.get("opened")
    if not opened or "assessed" in slots:
        return False
    ref = opened["incident_ref"]
    found = await turn.tx.incident(ref)
    if found is not None:
        record = {**found[1], "status": how, "closed_at": turn.now.isoformat()}
        await turn.tx.save_incident(ref, turn.inbound.conversation, record, turn.now)
    if opened.get("staff_notified"):
        params = {"incident_ref": ref, "how": how}
        await EFFECTS["notify_staff"](turn, "staff/incident_withdrawn", params)
    return bool(opened.get("staff_notified")) and turn.setup.staff is not None


async def cmd_cancel(turn: Turn, args: str) -> None:
    name = turn.state["active"]
    if name != HOME and not is_finished(turn.dialog, turn.slots):
        staff_told = await end_open_incident(turn, "cancelled") if name == "incident" else False
        turn.state["forms"].pop(name, None)
        turn.say("common/cancelled", dialog=name, staff_told=staff_told)
    else:
        turn.say("common/nothing_to_cancel")
    turn.state["active"] = HOME
    await turn.advance()


async def cmd_withdraw(turn: Turn, args: str) -> None:
    """The report was opened by mistake (a button on its first question): take it back."""
    staff_told = await end_open_incident(turn, "withdrawn")
    turn.state["forms"].pop("incident", None)
    turn.say("common/withdrawn", staff_told=staff_told)
    turn.state["active"] = HOME
    await turn.advance()


async def cmd_lang(turn: Turn, args: str) -> None:
    wanted = normalise(args)[:2]
    if wanted not in ("ja", "en"):
        wanted = "en" if turn.lang == "ja" else "ja"
    turn.state["lang"] = wanted
    turn.say("common/lang_set")
    turn.prompt()


async def cmd_myquotes(turn: Turn, args: str) -> None:
    quotes = await turn.tx.quotes_for(turn.inbound.conversation, limit=10)
    turn.say("quote/mine", quotes=quotes)
    turn.prompt()


async def cmd_forget(turn: Turn, args: str) -> None:
    """Delete everything kept about this conversation; what is left is a fresh start."""
    await turn.tx.delete_conversation_data(turn.inbound.conversation)
    turn.state = new_state(turn.lang)
    turn.say("privacy/deleted")
    turn.prompt()


async def cmd_staff(turn: Turn, args: str) -> None:
    await handoff.open_ticket(turn)


async def cmd_bot(turn: Turn, args: str) -> None:
    await handoff.leave(turn, by="user")


# What a user may type.
COMMANDS = {
    "start": Goto(HOME),
    "quote": Goto("quote"),
    "incident": Goto("incident"),
    "checklist": Do(cmd_checklist),
    "document": Do(cmd_document),
    "myquotes": Do(cmd_myquotes),
    "cancel": Do(cmd_cancel),
    "lang": Do(cmd_lang),
    "help": Show("common/help"),
    "delete": Goto("privacy"),
    "staff": Do(cmd_staff),
    "bot": Do(cmd_bot),
}
# What only a button may do (a step's Command action), never typed: deleting everything (after
# its confirmation), withdrawing a report opened by mistake.
CONFIRMED = {"forget": Do(cmd_forget), "withdraw": Do(cmd_withdraw)}
