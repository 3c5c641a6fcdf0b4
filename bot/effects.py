"""What dialogs ask the engine to do besides talking, one function per effect kind.

A hook returns `Effect(kind, payload)`; the turn calls `EFFECTS[kind](turn, **payload)` inside
the conversation's transaction and merges the returned dict into the templates' parameters.
Messages that are not direct replies (staff alerts, reminders) go to the outbox here, in the
same transaction, so they are sent even if the process dies right after the commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.context import TurnContext as Turn
from bot.handoff import to_topic
from bot.markup import to_plain
from bot.messages import Document, Envelope, Reply, Staff
from dialogs.incident import checklist_buttons, today_jst


def _day(turn: Turn) -> str:
    return f"{turn.now:%Y%m%d}"


async def save_quote(turn: Turn, quote: dict) -> dict[str, Any]:
    ref = await turn.tx.next_reference("Q", _day(turn))
    await turn.tx.save_quote(ref, turn.inbound.conversation, quote, turn.now)
    return {"ref": ref}


async def open_incident(turn: Turn, record: dict) -> dict[str, Any]:
    ref = await turn.tx.next_reference("I", _day(turn))
    await turn.tx.save_incident(ref, turn.inbound.conversation, record, turn.now)
    return {"incident_ref": ref}


async def save_incident(turn: Turn, ref: str, record: dict) -> dict[str, Any]:
    await turn.tx.save_incident(ref, turn.inbound.conversation, record, turn.now)
    return {}


async def notify_staff(turn: Turn, key: str, params: dict) -> dict[str, Any]:
    """Queue a message for the staff chat, in the staff's language; any hour."""
    if turn.setup.staff is None:
        return {"staff_notified": False}
    who = {"user_name": turn.inbound.user_name, "channel": turn.inbound.channel}
    text = turn.setup.staff_text(key, **{**turn.step_results, **who, **params})
    await turn.enqueue(Envelope(Staff(), Reply(key, text), kind="alert"))
    if turn.state.get("handoff"):  # with staff: the people on the ticket see it in its topic too
        await to_topic(turn, Reply(key, text))
    return {"staff_notified": True}


def reminder_tag(ref: str, item: str) -> str:
    return f"remind:{ref}:{item}"


async def schedule_reminders(turn: Turn, ref: str, items: list[dict]) -> dict[str, Any]:
    """Queue each checklist item's future reminders for the user, cancellable by tag."""
    for item in items:
        if item.get("done"):
            continue
        for moment in item.get("remind_at", []):
            at = datetime.fromisoformat(moment)
            if at <= turn.now:
                continue
            html = turn.render("incident/reminder", ref=ref, item=item)
            options = turn.button_options(checklist_buttons(ref, [item]))
            reminder = Reply("incident/reminder", html, actions=options)
            tag = reminder_tag(ref, item["id"])
            await turn.enqueue(
                Envelope(turn.inbound.conversation, reminder, kind="reminder", not_before=at, tag=tag)
            )
    return {}


async def send_document(turn: Turn, key: str, params: dict, filename: str) -> dict[str, Any]:
    """A plain-text file rendered from a template, sent with a short caption."""
    content = to_plain(turn.render(key, **params)).encode("utf-8")
    caption = turn.render(f"{key}_caption", **params)
    turn.attachments.append(Reply(key, caption, document=Document(filename, content)))
    return {}


async def toggle_checklist(turn: Turn, ref: str, item_id: str, done: bool | None = None) -> None:
    """A tap on a checklist item: set it to `done` (or flip it), cancel or restore its reminders."""
    found = await turn.tx.incident(ref)
    if found is None or found[0] != turn.inbound.conversation:
        turn.toast("common/stale_tap")
        return
    record = found[1]
    item = next((i for i in record.get("checklist", []) if i["id"] == item_id), None)
    if item is None:
        turn.toast("common/stale_tap")
        return
    done = not item.get("done", False) if done is None else done
    if done == item.get("done", False):
        turn.toast("incident/checklist_same")  # a double tap: the first one already did it
        return
    item["done"] = done
    if item["done"]:
        await turn.tx.cancel_outbox(reminder_tag(ref, item_id))
    else:
        await schedule_reminders(turn, ref, [item])
    await turn.tx.save_incident(ref, turn.inbound.conversation, record, turn.now)
    turn.say_buttons(
        "incident/checklist",
        checklist_buttons(ref, record["checklist"]),
        replaces=True,
        ref=ref,
        items=record["checklist"],
        today=today_jst(turn.now),
    )


EFFECTS = {
    "save_quote": save_quote,
    "open_incident": open_incident,
    "save_incident": save_incident,
    "notify_staff": notify_staff,
    "schedule_reminders": schedule_reminders,
    "send_document": send_document,
}
