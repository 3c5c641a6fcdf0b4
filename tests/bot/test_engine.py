"""The engine's one way in and one way out: the inbox survives a restart, a conversation's events
run in order, a stuck conversation holds up nobody else, a failed turn is answered and passed."""

import asyncio
from datetime import timedelta

from bot.messages import Inbound, Key, Reply
from bot.outbox import RetryLater
from bot.turn import Turn
from tests.support.transcript import Chat, Recorder, open_chat_app

USER = Key("console", "u1")
OTHER = Key("console", "u2")


def said(recorder: Recorder, key: Key) -> list[str]:
    return [e.body.key for e in recorder.envelopes(key) if isinstance(e.body, Reply)]


async def wait_until(predicate, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_engine_an_event_accepted_then_killed_before_its_turn_is_handled_after_restart(db, clock):
    """accept() commits the event; the process dies before the turn; the restarted app's inbox
    runner finds it waiting and answers it, once."""
    first = await open_chat_app(db, clock)
    assert await first.engine.accept([Inbound(USER, "text", "/quote", event_id="telegram:1")]) == 1
    await first.close()  # no turn ran: the runner was never started

    second = await open_chat_app(db, clock)
    try:
        await second.start()
        await wait_until(lambda: said(second.recorder, USER))
        assert said(second.recorder, USER) == ["quote/revenue"]
        # The platform sends it again (it was never confirmed): recognised, not answered again.
        assert await second.engine.accept([Inbound(USER, "text", "/quote", event_id="telegram:1")]) == 0
        await asyncio.sleep(0.05)
        assert said(second.recorder, USER) == ["quote/revenue"]
    finally:
        await second.close()


async def test_engine_a_conversations_events_run_in_their_platform_order(app):
    """Updates 12 then 11 arrive in one batch: 11's turn (/quote) runs first, then 12's answer."""
    batch = [
        Inbound(USER, "text", "3億", event_id="telegram:12", order=12),
        Inbound(USER, "text", "/quote", event_id="telegram:11", order=11),
    ]
    await app.engine.accept(batch)
    await app.engine.settle([USER])
    assert said(app.recorder, USER) == ["quote/revenue", "quote/industry"]


async def test_engine_a_stuck_conversation_does_not_hold_up_another(app):
    """While one user's reply cannot be sent, another user's turn runs and is answered."""
    stuck = asyncio.Event()

    class Hanging(Recorder):
        async def deliver(self, rows):
            if rows[0].destination == USER:
                await stuck.wait()
            await super().deliver(rows)

    hanging = Hanging()
    app.register("console", hanging)
    app.engine.live = True  # as a started app: accepted events run at once
    await app.engine.accept([Inbound(USER, "text", "/start")])
    await app.engine.accept([Inbound(OTHER, "text", "/start")])
    await wait_until(lambda: said(hanging, OTHER))
    assert said(hanging, USER) == []
    stuck.set()
    await app.engine.settle()
    assert said(hanging, USER) == ["menu/start"]


async def test_engine_a_failed_turn_is_answered_marked_and_passed(app, monkeypatch):
    """A turn that raises is rolled back: the user hears "something went wrong", the event is
    done (not retried for ever) and the conversation's next event runs normally."""
    real_run = Turn.run

    async def broken(turn):
        if turn.inbound.text == "boom":
            raise RuntimeError("a bug")
        await real_run(turn)

    monkeypatch.setattr(Turn, "run", broken)
    await app.engine.accept([Inbound(USER, "text", "boom"), Inbound(USER, "text", "/start")])
    await app.engine.settle([USER])
    assert said(app.recorder, USER) == ["common/error", "menu/start"]
    async with app.store.transaction() as tx:
        assert await tx.pending_conversations() == []


async def test_engine_every_message_is_an_outbox_row_first(app):
    """The direct replies of a turn are rows of the outbox, marked sent once the sender took them."""
    chat = Chat(app, conversation="console:u1")
    await chat.user("/quote")
    async with app.store.transaction() as tx:
        row = await tx.outbox_record(app.recorder.rows[-1].id)
    assert row.envelope.kind == "reply" and row.envelope.body.key == "quote/revenue"
    assert row.sent_at is not None


async def test_engine_a_platform_command_hands_back_from_staff_like_the_typed_one(db, clock):
    """LINE's rich-menu "/bot" arrives as kind "command": with staff, it hands the user back to
    the bot as typing /bot does (not relayed to staff)."""
    app = await open_chat_app(db, clock, env={"TELEGRAM_STAFF_CHAT_ID": "-100123"})
    try:
        chat = Chat(app, conversation="line:U1")
        await chat.user("/staff")
        await app.engine.accept([Inbound(Key("line", "U1"), "command", "/bot")])
        await app.engine.settle()
        assert said(app.recorder, Key("line", "U1"))[-2:] == ["handoff/back", "menu/start"]
    finally:
        await app.close()


class Down(Recorder):
    """Telegram refusing everything ("retry after 30") until `up` is set."""

    up = False

    async def deliver(self, rows):
        if not self.up:
            raise RetryLater(30)
        await super().deliver(rows)


async def test_engine_a_prompt_for_a_question_left_is_dropped_not_delivered_late(app, clock):
    """While nothing can be sent, the user answers on: the industry question's prompt, never
    sent, is superseded by the turn that answered it (kept with the reason); the messages that
    ask nothing (the revenue question, the "not a number" answer) and the open question's
    prompt all arrive, in order, once the platform is back."""
    down = Down()
    app.register("console", down)
    for text in ("/quote", "abc", "3億", "小売業"):
        await app.engine.accept([Inbound(USER, "text", text)])
        await app.engine.settle([USER])
    assert said(down, USER) == []
    clock.advance(seconds=60)
    down.up = True
    await app.outbox.drain()
    assert said(down, USER) == ["quote/revenue", "quote/revenue_invalid", "quote/channels"]
    async with app.store.transaction() as tx:
        left = [r for r in await tx.due_outbox(clock() + timedelta(days=1)) if r.envelope.destination == USER]
    assert left == []


async def test_engine_a_prompt_for_the_question_still_open_is_kept(app, clock):
    """An unsent prompt whose question is still the open one (the user typed something that is
    no industry) is delivered, then the reprompt: nothing the user still needs is dropped."""
    down = Down()
    app.register("console", down)
    for text in ("/quote", "3億", "よくわからない"):
        await app.engine.accept([Inbound(USER, "text", text)])
        await app.engine.settle([USER])
    clock.advance(seconds=60)
    down.up = True
    await app.outbox.drain()
    assert said(down, USER) == ["quote/revenue", "quote/industry", "quote/industry_invalid"]
