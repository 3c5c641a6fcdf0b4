"""The store contract: what every backend must do, run against each one.

Adding a backend is one entry in STORE_BACKENDS: a name and an async function that opens a
fresh, empty, migrated store for one test (skip there when its server is absent).
Expected values are worked out by hand from the calls each test makes.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from bot.messages import Document, Envelope, Forward, Inbound, Key, Notice, Option, Reply, Staff
from bot.store import (
    EVENT_MEMORY,
    FAILING_ATTEMPTS,
    OPS_FIGURES,
    SENT_MEMORY,
    TRANSCRIPT_CHARS,
    TRANSCRIPT_KEEP,
    open_store,
    purge_in_batches,
)
from tests.support.backends import fresh_pg_url
from tests.support.transcript import NOW


async def sqlite_store(tmp_path):
    return await open_store(tmp_path / "contract.db")


async def postgres_store(tmp_path):
    """A fresh schema on the throwaway server (skipped without one, except in CI). No settle
    window here: the contract is about what comes back, tests/bot/test_store_pg.py times it."""
    return await open_store(await fresh_pg_url(), settle=0)


STORE_BACKENDS = [pytest.param(sqlite_store, id="sqlite"), pytest.param(postgres_store, id="postgresql")]

A = Key("telegram", "1")
B = Key("line", "U2")


@pytest.fixture(params=STORE_BACKENDS)
async def store(request, tmp_path):
    store = await request.param(tmp_path)
    yield store
    await store.close()


def text_in(conversation: Key, text: str, event_id: str | None = None, order: int | None = None) -> Inbound:
    return Inbound(conversation, "text", text, event_id=event_id, order=order)


# -- transactions -------------------------------------------------------------------------------


async def test_store_contract_a_failed_unit_of_work_leaves_nothing(store):
    """An exception inside a transaction rolls back every write in it."""
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.save_conversation(A, {"v": 1}, NOW)
            await tx.enqueue(Envelope(A, Reply("k", "hi")), NOW)
            raise RuntimeError("boom")
    async with store.transaction() as tx:
        assert await tx.load_conversation(A) is None
        assert await tx.due_outbox(NOW) == []


async def test_store_contract_conversation_round_trip(store):
    """The state comes back as saved; created_at stays, updated_at moves."""
    async with store.transaction() as tx:
        await tx.save_conversation(A, {"v": 1, "lang": "ja", "forms": {"q": {"slots": {"x": "年商"}}}}, NOW)
    async with store.transaction() as tx:
        await tx.save_conversation(A, {"v": 1, "lang": "en"}, NOW + timedelta(hours=1))
        row = await tx.load_conversation(A)
        assert await tx.load_conversation(B) is None
    assert row.key == A and row.state == {"v": 1, "lang": "en"}
    assert row.created_at < row.updated_at


async def test_store_contract_a_held_conversation_is_still_the_holders(store):
    """A unit of work that holds a conversation (to change its state outside a turn) still reads
    and writes it and may take its next event; after it, the turns go on as before."""
    async with store.transaction() as tx:
        await tx.add_inbound(text_in(A, "hi", "e1"), NOW)
    async with store.transaction() as tx:
        await tx.hold_conversation(A)
        await tx.hold_conversation(A)  # twice is once
        await tx.save_conversation(A, {"line_blocked": True}, NOW)
        assert (await tx.next_inbound(A)).inbound.text == "hi"
    async with store.transaction() as tx:
        assert (await tx.load_conversation(A)).state == {"line_blocked": True}
        assert (await tx.next_inbound(A)).inbound.text == "hi"


async def test_store_contract_references_count_per_prefix_and_day(store):
    """Q and I count separately, and each day starts again at 0001."""
    async with store.transaction() as tx:
        refs = [
            await tx.next_reference("Q", "20261122"),
            await tx.next_reference("Q", "20261122"),
            await tx.next_reference("I", "20261122"),
            await tx.next_reference("Q", "20261123"),
        ]
    assert refs == ["Q-20261122-0001", "Q-20261122-0002", "I-20261122-0001", "Q-20261123-0001"]


async def test_store_contract_quotes_and_incidents(store):
    """Newest first, limited; an incident saved again replaces its record."""
    async with store.transaction() as tx:
        await tx.save_quote("Q-1", A, {"premium": 3500}, NOW)
        await tx.save_quote("Q-2", A, {"premium": 7500}, NOW + timedelta(minutes=1))
        await tx.save_quote("Q-3", B, {"premium": 1}, NOW)
        await tx.save_incident("I-1", A, {"facts": {}}, NOW)
        await tx.save_incident("I-1", A, {"facts": {}, "checklist": []}, NOW + timedelta(minutes=1))
    async with store.transaction() as tx:
        quotes = await tx.quotes_for(A)
        assert [q["ref"] for q in quotes] == ["Q-2", "Q-1"] and quotes[0]["quote"] == {"premium": 7500}
        assert [q["ref"] for q in await tx.quotes_for(A, limit=1)] == ["Q-2"]
        assert await tx.incident("I-1") == (A, {"facts": {}, "checklist": []})
        assert await tx.incident("I-9") is None
        assert await tx.incidents_for(A) == [{"ref": "I-1", "facts": {}, "checklist": []}]


# -- inbox ----------------------------------------------------------------------------------------


async def test_store_contract_inbox_drops_a_redelivered_event(store):
    """The same event id twice is queued once; events without an id are all queued."""
    async with store.transaction() as tx:
        first = await tx.add_inbound(text_in(A, "hi", "telegram:5"), NOW)
        again = await tx.add_inbound(text_in(A, "hi", "telegram:5"), NOW)
        one = await tx.add_inbound(text_in(B, "a"), NOW)
        two = await tx.add_inbound(text_in(B, "b"), NOW)
    assert first is not None and again is None and None not in (one, two) and one != two


async def test_store_contract_inbox_order_within_a_conversation(store):
    """By the platform's order when given (update 7 before 9 though 9 came first), else arrival."""
    async with store.transaction() as tx:
        await tx.add_inbound(text_in(A, "nine", "telegram:9", order=9), NOW)
        await tx.add_inbound(text_in(B, "b1"), NOW)
        await tx.add_inbound(text_in(A, "seven", "telegram:7", order=7), NOW)
        await tx.add_inbound(text_in(B, "b2"), NOW)
    seen = {A: [], B: []}
    for key in (A, B):
        while True:
            async with store.transaction() as tx:
                item = await tx.next_inbound(key)
                if item is None:
                    break
                seen[key].append(item.inbound.text)
                await tx.inbound_done(item.id, NOW)
    assert seen == {A: ["seven", "nine"], B: ["b1", "b2"]}


async def test_store_contract_inbox_keeps_the_whole_event(store):
    """Every field of an inbound comes back as it went in."""
    inbound = Inbound(
        A,
        "tap",
        "quote.industry.retail",
        event_id="telegram:11",
        locale_hint="en",
        user_name="Taro 太郎",
        ref="1:22",
        reply_ctx={"callback_query_id": "cb1", "message_id": 22},
        order=11,
    )
    staff = Inbound(
        B, "media", event_id="telegram:12", ref="-100:3", from_staff=True, reply_ctx={"thread": 4}
    )
    async with store.transaction() as tx:
        await tx.add_inbound(inbound, NOW)
        await tx.add_inbound(staff, NOW)
        assert (await tx.next_inbound(A)).inbound == inbound
        assert (await tx.next_inbound(B)).inbound == staff


async def test_store_contract_pending_conversations_longest_waiting_first(store):
    """Conversations with waiting events, oldest first; a handled one drops out."""
    async with store.transaction() as tx:
        await tx.add_inbound(text_in(B, "b"), NOW)
        await tx.add_inbound(text_in(A, "a"), NOW)
        await tx.add_inbound(text_in(B, "b again"), NOW)
        assert await tx.pending_conversations() == [B, A]
        item = await tx.next_inbound(A)
        await tx.inbound_done(item.id, NOW, error="RuntimeError('boom')")
        assert await tx.pending_conversations() == [B]


async def test_store_contract_handled_events_are_remembered_then_forgotten(store):
    """A handled event's id still stops a redelivery; after EVENT_MEMORY purge forgets it."""
    async with store.transaction() as tx:
        await tx.add_inbound(text_in(A, "hi", "telegram:1"), NOW)
        item = await tx.next_inbound(A)
        await tx.inbound_done(item.id, NOW)
        assert await tx.add_inbound(text_in(A, "hi", "telegram:1"), NOW) is None
        assert await tx.next_inbound(A) is None
    later = NOW + EVENT_MEMORY + timedelta(seconds=1)
    async with store.transaction() as tx:
        counts = await tx.purge(later, timedelta(days=365))
        assert counts["handled events"] == 1
        assert await tx.add_inbound(text_in(A, "hi", "telegram:1"), later) is not None


async def test_store_contract_overflow_sets_aside_a_users_events_beyond_keep(store):
    """Five events from the user and one from staff wait in A: keeping 2, the user's last three
    are done without a turn (error "flood"); staff's stays, and so does all of B."""
    async with store.transaction() as tx:
        for n in range(5):
            await tx.add_inbound(text_in(A, f"u{n}", f"telegram:{n}", order=n), NOW)
        staff = Inbound(A, "text", "from staff", event_id="telegram:s", order=3, from_staff=True)
        await tx.add_inbound(staff, NOW)
        await tx.add_inbound(text_in(B, "b", "line:b"), NOW)
        assert await tx.overflow(A, 2, NOW) == 3
        assert await tx.overflow(A, 2, NOW) == 0
        left = []
        while (item := await tx.next_inbound(A)) is not None:
            left.append(item.inbound.text)
            await tx.inbound_done(item.id, NOW)
        assert left == ["u0", "u1", "from staff"]
        assert (await tx.next_inbound(B)).inbound.text == "b"
        assert await tx.add_inbound(text_in(A, "u4", "telegram:4"), NOW) is None  # remembered


# -- outbox -----------------------------------------------------------------------------------------


ENVELOPES = [
    Envelope(
        A,
        Reply(
            "quote/result",
            "<b>月額 3,500円</b> &amp; more",
            choices=(Option("quote.x.a", "A"),),
            actions=(Option("ck.I-1.a.1", "✅ 済"),),
            replaces=True,
            document=Document("I-1.txt", b"\x00\xffbytes"),
        ),
        kind="reply",
        reply_ctx={"callback_query_id": "q", "message_id": 3},
    ),
    Envelope(Staff(A, "Taro · telegram:1"), Forward("telegram", "1:5", "caption"), kind="relay"),
    Envelope(Staff(), Reply("staff/alert", "🚨"), kind="alert"),
    Envelope(A, Notice("済みです"), kind="reply"),
    Envelope(B, Reply("incident/reminder", "r"), kind="reminder", not_before=NOW, tag="remind:I-1:a"),
]


async def test_store_contract_envelopes_come_back_as_they_went_in(store):
    """Every body type, destination, kind, tag, reply_ctx and a document's bytes survive the store."""
    async with store.transaction() as tx:
        ids = [await tx.enqueue(e, NOW) for e in ENVELOPES]
        due = await tx.due_outbox(NOW)
    assert [r.id for r in due] == ids  # oldest first
    assert [r.envelope for r in due] == ENVELOPES
    assert due[1].envelope.destination.title == "Taro · telegram:1"
    assert all(r.attempts == 0 and r.sent_at is None for r in due)


async def test_store_contract_outbox_due_by_time_route_and_destination(store):
    """Not before its time; filtered by route ("staff" is the staff desk's) and by destination."""
    async with store.transaction() as tx:
        now_a = await tx.enqueue(Envelope(A, Reply("k", "a")), NOW)
        later_a = await tx.enqueue(Envelope(A, Reply("k", "later"), not_before=NOW + timedelta(hours=1)), NOW)
        staff = await tx.enqueue(Envelope(Staff(A), Reply("k", "s"), kind="relay"), NOW)
        line = await tx.enqueue(Envelope(B, Reply("k", "b")), NOW)
        assert [r.id for r in await tx.due_outbox(NOW)] == [now_a, staff, line]
        assert [r.id for r in await tx.due_outbox(NOW, routes=("telegram", "line"))] == [now_a, line]
        assert [r.id for r in await tx.due_outbox(NOW, routes=("staff",))] == [staff]
        assert [r.id for r in await tx.due_outbox(NOW, routes=())] == []
        assert [r.id for r in await tx.due_outbox(NOW, destination=Staff(A))] == [staff]
        hour = NOW + timedelta(hours=1)
        assert [r.id for r in await tx.due_outbox(hour, destination=A)] == [now_a, later_a]
        assert await tx.next_outbox_time(("telegram",)) == NOW
        assert await tx.next_outbox_time(()) is None


async def test_store_contract_sent_and_given_up_rows_are_kept_not_resent(store):
    """mark_sent takes a row out of the due list; an error is kept with it."""
    async with store.transaction() as tx:
        sent = await tx.enqueue(Envelope(A, Reply("k", "a")), NOW)
        refused = await tx.enqueue(Envelope(A, Reply("k", "b")), NOW)
        await tx.mark_sent(sent, NOW)
        await tx.mark_sent(refused, NOW, error="gave up: bot was blocked by the user")
        assert await tx.due_outbox(NOW) == []
        record = await tx.outbox_record(refused)
    assert record.sent_at is not None and "blocked" in record.last_error


async def test_store_contract_postpone_holds_the_rows_behind_it(store):
    """A postponed row's later rows to the same destination wait with it; other destinations don't."""
    async with store.transaction() as tx:
        first = await tx.enqueue(Envelope(A, Reply("k", "1")), NOW)
        second = await tx.enqueue(Envelope(A, Reply("k", "2")), NOW)
        other = await tx.enqueue(Envelope(B, Reply("k", "b")), NOW)
        await tx.postpone(first, "Telegram flood control", NOW + timedelta(seconds=30))
        assert [r.id for r in await tx.due_outbox(NOW + timedelta(seconds=29))] == [other]
        due = await tx.due_outbox(NOW + timedelta(seconds=30))
    assert [r.id for r in due] == [first, second, other]
    assert due[0].attempts == 1 and due[0].last_error == "Telegram flood control" and due[1].attempts == 0


async def test_store_contract_a_new_row_waits_behind_one_waiting_for_its_retry(store):
    """A row written while an older one of its destination waits out a failure waits until
    then too (a new message never overtakes an old one); a reminder for later keeps its time,
    and other destinations are not held."""
    retry, tomorrow = NOW + timedelta(seconds=30), NOW + timedelta(days=1)
    async with store.transaction() as tx:
        first = await tx.enqueue(Envelope(A, Reply("k", "1")), NOW)
        await tx.postpone(first, "Telegram flood control", retry)
        second = await tx.enqueue(Envelope(A, Reply("k", "2")), NOW)
        later = await tx.enqueue(Envelope(A, Reply("k", "r"), kind="reminder", not_before=tomorrow), NOW)
        other = await tx.enqueue(Envelope(B, Reply("k", "b")), NOW)
        assert [r.id for r in await tx.due_outbox(NOW + timedelta(seconds=29))] == [other]
        assert [r.id for r in await tx.due_outbox(retry)] == [first, second, other]
        assert [r.id for r in await tx.due_outbox(tomorrow)] == [first, second, later, other]


PROMPT = Reply(
    "quote/industry", "2/3", (Option("quote.industry.retail", "小売業"), Option("quote.industry.it", "IT"))
)
TICKED = Reply("quote/channels", "3/3", (Option("quote.channels.rakuten.0.v1", "✅ 楽天"),), replaces=True)


async def test_store_contract_a_newer_turn_supersedes_late_prompts_for_other_questions(store):
    """Unsent direct replies to the conversation that ask another question than the open one and
    are late (failed once, had a send of unknown outcome, or waited behind an older row that
    failed) are done with the reason "superseded"; a prompt simply queued (the user typed
    ahead), prompts for the open question, messages that ask nothing (a quote, a checklist card
    with actions), relays, sent rows and other conversations stay."""
    open_question, retry = TICKED.question, NOW + timedelta(seconds=30)
    assert PROMPT.question == "quote.industry.retail quote.industry.it"
    checklist = Reply("incident/checklist", "□ 1", actions=(Option("ck.I-1.a.1", "済"),))
    async with store.transaction() as tx:
        typed_ahead = await tx.enqueue(Envelope(A, PROMPT), NOW)
        assert await tx.supersede_questions(A, open_question, NOW) == 0
        await tx.postpone(typed_ahead, "Telegram flood control", retry)  # now it is late
        behind = await tx.enqueue(Envelope(A, PROMPT), NOW)  # waits behind it: late too
        quote = await tx.enqueue(Envelope(A, Reply("quote/result", "お見積り Q-1")), NOW)
        card = await tx.enqueue(Envelope(A, checklist), NOW)
        relayed = await tx.enqueue(Envelope(A, PROMPT, kind="relay"), NOW)
        still_open = await tx.enqueue(Envelope(A, TICKED), NOW)
        elsewhere = await tx.enqueue(Envelope(B, PROMPT), NOW)
        await tx.postpone(elsewhere, "Telegram flood control", NOW)
        sent = await tx.enqueue(Envelope(A, PROMPT), NOW)
        await tx.mark_sent(sent, NOW)
        assert await tx.supersede_questions(A, open_question, NOW) == 2
        assert [r.id for r in await tx.due_outbox(retry)] == [quote, card, relayed, still_open, elsewhere]
        for row in (typed_ahead, behind):
            dropped = await tx.outbox_record(row)
            assert dropped.sent_at is not None and dropped.last_error == "superseded"
        assert (await tx.outbox_record(sent)).last_error is None
        # No question open any more (the quote is done): the ticked keyboard goes too.
        assert await tx.supersede_questions(A, None, NOW) == 1
        assert [r.id for r in await tx.due_outbox(retry)] == [quote, card, relayed, elsewhere]
    async with store.transaction() as tx:
        noted = await tx.enqueue(Envelope(A, PROMPT), NOW)
    await store.note_attempt(noted)  # its send's outcome is unknown (a kill during the call)
    async with store.transaction() as tx:
        assert await tx.supersede_questions(A, None, NOW) == 1
        # An edit of another question's keyboard goes even fresh (only the newest state matters).
        edit = await tx.enqueue(Envelope(A, TICKED), NOW)
        assert await tx.supersede_questions(A, "quote.channels.rakuten.1.v2", NOW) == 1
        assert (await tx.outbox_record(edit)).last_error == "superseded"


async def test_store_contract_a_prompt_that_waited_its_turn_too_long_is_late(store):
    """A prompt never tried but still unsent PROMPT_LATE_AFTER (5 s) after its turn (held back
    by the bot's 30 a second) is late: superseded once the user has left its question; 4 s old,
    it still goes (the user typed ahead)."""
    async with store.transaction() as tx:
        old = await tx.enqueue(Envelope(A, PROMPT), NOW)
        fresh = await tx.enqueue(Envelope(A, PROMPT), NOW + timedelta(seconds=1))
        assert await tx.supersede_questions(A, TICKED.question, NOW + timedelta(seconds=4)) == 0
        assert await tx.supersede_questions(A, TICKED.question, NOW + timedelta(seconds=5)) == 1
        assert (await tx.outbox_record(old)).last_error == "superseded"
        assert (await tx.outbox_record(fresh)).last_error is None


async def test_store_contract_attempts_of_unknown_outcome_are_counted(store):
    """note_attempt counts a send that may reach the platform unheard (committed on its own);
    postpone can take it back; a row done meanwhile is not counted (None)."""
    async with store.transaction() as tx:
        row = await tx.enqueue(Envelope(A, Reply("k", "a")), NOW)
    assert await store.note_attempt(row) == 1
    assert await store.note_attempt(row) == 2
    async with store.transaction() as tx:
        await tx.postpone(row, "Bad Gateway", NOW, uncertain=1)  # the second failed for sure
        assert (await tx.outbox_record(row)).uncertain == 1
        await tx.postpone(row, "Timed out", NOW)  # unknown: the count stays
        (due,) = await tx.due_outbox(NOW)
        assert due.uncertain == 1 and due.attempts == 2
        await tx.mark_sent(row, NOW)
    assert await store.note_attempt(row) is None
    async with store.transaction() as tx:
        assert (await tx.outbox_record(row)).uncertain == 1


async def test_store_contract_cancel_by_tag_only_pending_rows(store):
    """A tag cancels pending rows; a row already sent stays on record."""
    async with store.transaction() as tx:
        sent = await tx.enqueue(Envelope(A, Reply("k", "a"), kind="reminder", tag="remind:x"), NOW)
        await tx.mark_sent(sent, NOW)
        await tx.enqueue(Envelope(A, Reply("k", "b"), kind="reminder", tag="remind:x"), NOW)
        await tx.enqueue(Envelope(A, Reply("k", "c"), kind="reminder", tag="remind:y"), NOW)
        assert await tx.cancel_outbox("remind:x") == 1
        assert [r.envelope.tag for r in await tx.due_outbox(NOW)] == ["remind:y"]
        assert (await tx.outbox_record(sent)).sent_at is not None


async def test_store_contract_ops_figures_count_what_is_waiting(store):
    """What /metrics and /healthz read, worked out by hand from the rows written here."""
    later = NOW + timedelta(minutes=10)
    async with store.transaction() as tx:
        assert await tx.ops_figures(NOW) == dict.fromkeys(OPS_FIGURES, 0)
        sent = await tx.enqueue(Envelope(A, Reply("k", "sent")), NOW)
        await tx.mark_sent(sent, NOW)
        await tx.enqueue(Envelope(A, Reply("k", "due since NOW")), NOW)  # oldest due: 600 s at `later`
        await tx.enqueue(Envelope(B, Reply("k", "due"), kind="reminder"), NOW + timedelta(minutes=5))
        await tx.enqueue(  # a reminder not due yet: counted in the depth only
            Envelope(B, Reply("k", "r"), kind="reminder", not_before=NOW + timedelta(days=1)), NOW
        )
        failing = await tx.enqueue(Envelope(Staff(), Reply("k", "alert"), kind="alert"), NOW)
        for n in range(FAILING_ATTEMPTS):  # postponed to 1..8 s after `later`: not due, but failing
            await tx.postpone(failing, "Bad Gateway", later + timedelta(seconds=n + 1))
        await tx.open_ticket(A, NOW)
        closed, _ = await tx.open_ticket(B, NOW)
        await tx.close_ticket(closed, "staff", NOW)
        await tx.add_inbound(text_in(A, "waiting", "telegram:1"), NOW)
        done = await tx.add_inbound(text_in(B, "handled", "line:1"), NOW)
        await tx.inbound_done(done, NOW)
        figures = await tx.ops_figures(later)
    assert figures == {
        "outbox_depth": 4,
        "outbox_oldest_due_seconds": 600,
        "outbox_failing": 1,
        "reminders_due": 1,
        "tickets_open": 1,
        "inbox_pending": 1,
    }


# -- tickets, topics, transcript ------------------------------------------------------------------


async def test_store_contract_tickets(store):
    """One open ticket per conversation; the first staff answer counts once; notes accumulate."""
    async with store.transaction() as tx:
        ticket, created = await tx.open_ticket(A, NOW)
        assert (await tx.open_ticket(A, NOW)) == (ticket, False) and created
        assert await tx.ticket_answered(ticket, NOW) and not await tx.ticket_answered(ticket, NOW)
        await tx.add_note(ticket, {"text": "電話済み"})
        await tx.add_note(ticket, {"text": "second"})
        assert (await tx.open_ticket_of(A))["notes"] == [{"text": "電話済み"}, {"text": "second"}]
        await tx.close_ticket(ticket, "staff", NOW)
        assert await tx.open_ticket_of(A) is None
        closed = await tx.ticket(ticket)
        assert closed["closed_by"] == "staff" and closed["conversation"] == A
        assert (await tx.open_ticket(A, NOW))[1] is True  # a new one after closing


async def test_store_contract_topics(store):
    """The staff desk's map: conversation ↔ thread; a lost thread is None until recreated."""
    async with store.transaction() as tx:
        await tx.set_topic(A, 7, "Taro · telegram:1", NOW)
        assert (await tx.topic_of(A))["thread_id"] == 7 and await tx.conversation_of_topic(7) == A
        await tx.set_topic(A, None, "Taro · telegram:1", NOW)
        assert (await tx.topic_of(A))["thread_id"] is None and await tx.conversation_of_topic(7) is None
        assert await tx.topic_of(B) is None


async def test_store_contract_transcript_keeps_the_last_lines_shortened(store):
    """TRANSCRIPT_KEEP lines per conversation, each cut to TRANSCRIPT_CHARS, oldest first."""
    async with store.transaction() as tx:
        for n in range(TRANSCRIPT_KEEP + 5):
            await tx.note_transcript(A, [("user", f"line {n}")], NOW)
        await tx.note_transcript(B, [("bot", "x" * (TRANSCRIPT_CHARS + 10))], NOW)
        lines = await tx.transcript(A, limit=100)
        assert [line["text"] for line in lines] == [f"line {n}" for n in range(5, TRANSCRIPT_KEEP + 5)]
        assert [line["text"] for line in await tx.transcript(A, limit=2)] == ["line 23", "line 24"]
        assert len((await tx.transcript(B))[0]["text"]) == TRANSCRIPT_CHARS


# -- personal data ------------------------------------------------------------------------------------


async def fill(tx, key: Key, at=NOW) -> None:
    await tx.save_conversation(key, {"v": 1}, at)
    await tx.save_quote(f"Q-{key.id}", key, {}, at)
    await tx.save_incident(f"I-{key.id}", key, {}, at)
    await tx.open_ticket(key, at)
    await tx.set_topic(key, None, "n", at)
    await tx.note_transcript(key, [("user", "私の電話は090...")], at)
    await tx.enqueue(Envelope(key, Reply("k", "to the user")), at)
    await tx.enqueue(Envelope(Staff(key), Reply("", "私の電話は090..."), kind="relay"), at)


async def assert_gone(tx, key: Key) -> None:
    assert await tx.load_conversation(key) is None
    assert await tx.quotes_for(key) == [] and await tx.incidents_for(key) == []
    assert await tx.open_ticket_of(key) is None and await tx.topic_of(key) is None
    assert await tx.transcript(key) == []
    assert await tx.due_outbox(NOW, destination=key) == []
    assert await tx.due_outbox(NOW, destination=Staff(key)) == []


async def test_store_contract_delete_on_request_leaves_nothing_of_that_conversation(store):
    """Everything about A goes, including what A wrote to staff; B keeps all of its data."""
    async with store.transaction() as tx:
        await fill(tx, A)
        await fill(tx, B)
        await tx.delete_conversation_data(A)
        await assert_gone(tx, A)
        assert (await tx.load_conversation(B)) is not None
        assert len(await tx.due_outbox(NOW, destination=Staff(B))) == 1


async def test_store_contract_purge_forgets_stale_conversations_and_old_sent_rows(store):
    """Untouched for `keep`: gone with their data; a fresh one stays. Old sent rows go too."""
    later = NOW + timedelta(days=400)
    async with store.transaction() as tx:
        await fill(tx, A)
        await fill(tx, B, at=later)
        sent = await tx.enqueue(Envelope(Staff(), Reply("k", "alert"), kind="alert"), NOW)
        await tx.mark_sent(sent, NOW)
    async with store.transaction() as tx:
        counts = await tx.purge(later, timedelta(days=365))
        await assert_gone(tx, A)
        assert await tx.load_conversation(B) is not None
        assert len(await tx.due_outbox(later, destination=Staff(B))) == 1
    assert counts["conversations"] == 1 and counts["quotes"] == 1 and counts["outbox"] == 2
    assert counts["sent outbox"] == 1 and later - NOW > SENT_MEMORY


class NotingBatches:
    """The store, noting what each transaction's purge() deleted: one entry a transaction."""

    def __init__(self, store):
        self.store, self.batches = store, []

    @asynccontextmanager
    async def transaction(self):
        async with self.store.transaction() as tx:
            yield self._Noting(tx, self.batches)

    class _Noting:
        def __init__(self, tx, batches):
            self.tx, self.batches = tx, batches

        async def purge(self, *args, **kwargs):
            counts = await self.tx.purge(*args, **kwargs)
            self.batches.append(counts)
            return counts


async def test_store_contract_purge_in_batches_removes_every_expired_row_over_several_transactions(store):
    """Five stale conversations, five old handled events, five old sent rows, batches of 2:
    every one goes, over several transactions of at most 2 of each kind; fresh conversations,
    recent handled and sent rows and an old event still waiting stay."""
    later = NOW + timedelta(days=400)
    stale = [Key("telegram", str(n)) for n in range(10, 15)]
    fresh = [Key("telegram", "20"), Key("line", "U21")]
    async with store.transaction() as tx:
        for key in stale:
            await fill(tx, key)
        for key in fresh:
            await fill(tx, key, at=later)
        for n in range(6):  # five handled a year ago, one just now
            await tx.add_inbound(text_in(fresh[0], "hi", f"telegram:{n}"), NOW)
            item = await tx.next_inbound(fresh[0])
            await tx.inbound_done(item.id, later if n == 5 else NOW)
        await tx.add_inbound(text_in(fresh[1], "still waiting", "line:w"), NOW)
        for n in range(6):  # five sent a year ago, one just now
            sent = await tx.enqueue(Envelope(Staff(), Reply("k", "alert"), kind="alert"), NOW)
            await tx.mark_sent(sent, later if n == 5 else NOW)
    noted = NotingBatches(store)
    total = await purge_in_batches(noted, later, timedelta(days=365), batch=2)
    limited = ("conversations", "handled events", "sent outbox")
    # 2 + 2 + 1 of each kind; the third batch's outbox count (its conversation's own row and
    # its staff row) reaches 2, so one more, empty, batch makes sure nothing is left.
    batches = [[b[kind] for kind in limited] for b in noted.batches]
    assert batches == [[2, 2, 2], [2, 2, 2], [1, 1, 1], [0, 0, 0]]
    assert total["conversations"] == 5 and total["quotes"] == 5 and total["transcript"] == 5
    assert total["outbox"] == 10 and total["handled events"] == 5 and total["sent outbox"] == 5
    async with store.transaction() as tx:
        for key in stale:
            await assert_gone(tx, key)
        for key in fresh:
            assert await tx.load_conversation(key) is not None
            assert len(await tx.due_outbox(later, destination=Staff(key))) == 1
        assert await tx.add_inbound(text_in(fresh[0], "hi", "telegram:5"), later) is None  # remembered
        assert await tx.add_inbound(text_in(fresh[0], "hi", "telegram:0"), later) is not None  # forgotten
        assert (await tx.next_inbound(fresh[1])).inbound.text == "still waiting"
