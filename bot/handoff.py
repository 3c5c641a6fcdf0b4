"""Hand a conversation to people and back: tickets, relaying, staff commands in the topic.

While a ticket is open and the user is "with staff" (state["handoff"]), everything the user
sends is queued for their topic in the staff group and the bot stays quiet; /bot or the
button hands the conversation back and the dialog resumes where it was. Staff messages in
the topic are queued for the user as the bot's own (staff stay anonymous). All of it goes
through the outbox, so a restart or a deleted topic loses nothing.
"""

from __future__ import annotations

import html

from bot.context import StaffSettings
from bot.context import TurnContext as Turn
from bot.messages import Envelope, Forward, Option, Reply, Staff
from dialogs.handoff import availability, no_answer_at

BACK = "handoff.back"  # the button that returns the user to the bot


def no_answer_tag(ticket_id: int) -> str:
    return f"noanswer:{ticket_id}"


def topic_name(turn: Turn) -> str:
    name = (turn.inbound.user_name or "").strip() or "user"
    return f"{name[:60]} · {turn.inbound.conversation}"


def back_button(turn: Turn) -> tuple:
    return (Option(BACK, turn.label("menu", "back_to_bot")),)


def staff_desk(turn: Turn) -> Staff:
    """This user's thread at the staff desk."""
    return Staff(turn.inbound.conversation, topic_name(turn))


async def to_topic(turn: Turn, body: Reply | Forward, kind: str = "relay") -> None:
    """Queue something for this user's thread at the staff desk."""
    await turn.enqueue(Envelope(staff_desk(turn), body, kind=kind))


async def open_ticket(turn: Turn) -> None:
    """/staff: open (or rejoin) a ticket, tell the user what happens next, brief the staff."""
    setup, tx, now = turn.setup, turn.tx, turn.now
    if setup.staff is None:
        turn.say("handoff/unavailable")
        turn.prompt()
        return
    ticket_id, created = await tx.open_ticket(turn.inbound.conversation, now)
    turn.state["handoff"] = {"ticket": ticket_id}
    settings: StaffSettings = setup.staff
    when = availability(settings.hours, now)
    incident = turn.state["active"] == "incident" or await _open_incident(turn) is not None
    turn.say("handoff/opened", actions=back_button(turn), has_incident=incident, **when)
    if created:
        await to_topic(turn, Reply("staff/ticket_header", await header(turn)), kind="ticket_open")
        at = no_answer_at(settings.hours, now, settings.answer_wait)
        text = turn.render("handoff/no_answer", has_incident=incident)
        message = Reply("handoff/no_answer", text, actions=back_button(turn))
        tag = no_answer_tag(ticket_id)
        await turn.enqueue(Envelope(turn.inbound.conversation, message, kind="alert", not_before=at, tag=tag))
    else:
        await to_topic(turn, Reply("staff/asked_again", setup.staff_text("staff/asked_again")))


async def _open_incident(turn: Turn) -> dict | None:
    incidents = await turn.tx.incidents_for(turn.inbound.conversation, limit=1)
    return incidents[0] if incidents else None


async def header(turn: Turn) -> str:
    """The ticket's first message in the topic: who, latest quote and incident, last messages."""
    conversation = turn.inbound.conversation
    quotes = await turn.tx.quotes_for(conversation, limit=1)
    return turn.setup.staff_text(
        "staff/ticket_header",
        user_name=turn.inbound.user_name,
        lang=turn.lang,
        channel=turn.inbound.channel,
        quote=quotes[0] if quotes else None,
        incident=await _open_incident(turn),
        transcript=await turn.tx.transcript(conversation, limit=6),
    )


async def leave(turn: Turn, *, by: str) -> None:
    """Back to the bot: close the ticket, tell the other side, resume the dialog where it was."""
    handoff = turn.state.pop("handoff", None)
    if handoff is None:
        turn.say("handoff/not_with_staff")
        turn.prompt()
        return
    await turn.tx.close_ticket(handoff["ticket"], by, turn.now)
    await turn.tx.cancel_outbox(no_answer_tag(handoff["ticket"]))
    if by == "user":
        note = turn.setup.staff_text("staff/user_left")
        await to_topic(turn, Reply("staff/user_left", note), kind="ticket_close")
    turn.say("handoff/back" if by == "user" else "handoff/closed_by_staff")
    turn.prompt()


async def relay_from_user(turn: Turn, *, acknowledge: bool = True) -> None:
    """While with staff: pass the user's message to their topic. The first one is acknowledged
    ("passed to staff"); after that the bot stays quiet, as a person is answering."""
    inbound = turn.inbound
    if inbound.kind == "media" and inbound.ref:
        await to_topic(turn, Forward(inbound.channel, inbound.ref))
    elif inbound.kind == "text":
        await to_topic(turn, Reply("", html.escape(inbound.text, quote=False)))
    else:
        turn.toast("handoff/with_staff")
        return
    handoff = turn.state.get("handoff")
    if acknowledge and handoff is not None and not handoff.get("acknowledged"):
        handoff["acknowledged"] = True
        turn.say("handoff/passed")


# -- the staff side ------------------------------------------------------------------------------


async def on_staff_message(turn: Turn, kind: str, text: str, ref: str | None) -> list[Reply]:
    """A message staff wrote in this user's topic; returns what to post back in the topic."""

    def topic(key: str, **params) -> list[Reply]:
        return [Reply(key, turn.setup.staff_text(key, **params))]

    if kind == "text" and text.startswith("/"):
        name, _, args = text[1:].partition(" ")
        name = name.split("@", 1)[0].lower()
        return await _staff_command(turn, name, args.strip(), topic)
    ticket = await turn.tx.open_ticket_of(turn.inbound.conversation)
    if ticket and await turn.tx.ticket_answered(ticket["id"], turn.now):
        await turn.tx.cancel_outbox(no_answer_tag(ticket["id"]))
    if kind == "media" and ref:
        body: Reply | Forward = Forward(turn.setup.staff.desk, ref)
    else:
        body = Reply("", html.escape(text, quote=False))
        await turn.tx.note_transcript(turn.inbound.conversation, [("staff", text)], turn.now)
    await turn.enqueue(Envelope(turn.inbound.conversation, body, kind="relay"))
    return []


async def _staff_command(turn: Turn, name: str, args: str, topic) -> list[Reply]:
    conversation = turn.inbound.conversation
    if name == "close":
        if "handoff" not in turn.state:
            ticket = await turn.tx.open_ticket_of(conversation)
            if ticket:
                await turn.tx.close_ticket(ticket["id"], "staff", turn.now)
            return topic("staff/closed", was_open=False)
        await leave(turn, by="staff")
        closed = turn.setup.staff_text("staff/closed", was_open=True)
        await to_topic(turn, Reply("staff/closed", closed), kind="ticket_close")
        return []
    if name == "note":
        ticket = await turn.tx.open_ticket_of(conversation)
        if not args or ticket is None:
            return topic("staff/note_usage")
        await turn.tx.add_note(ticket["id"], {"at": turn.now.isoformat(), "text": args})
        return topic("staff/noted")
    if name == "quote":
        quotes = await turn.tx.quotes_for(conversation, limit=1)
        return topic("staff/latest_quote", quote=quotes[0] if quotes else None)
    if name == "incident":
        return topic("staff/latest_incident", incident=await _open_incident(turn))
    return topic("staff/unknown_command", command=name[:32])
