"""Issue 10, hand-off leftovers: an incident during a staff conversation keeps the ticket and the
relay, and the ticket header shows the labels a user typed as numbers."""

import pytest

from bot.markup import to_plain
from bot.messages import Key, Reply, Staff
from tests.support.transcript import Chat, open_chat_app

STAFF_ENV = {"TELEGRAM_STAFF_CHAT_ID": "-100123"}
TOPIC = Staff(Key.parse("console:test"))


@pytest.fixture(params=["ja", "en"])
def lang(request):
    return request.param


@pytest.fixture
async def staffed(db, clock):
    app = await open_chat_app(db, clock, env=STAFF_ENV)
    yield app
    await app.close()


async def topic(app, clock) -> list[tuple[str, str]]:
    """What is queued for the user's topic at the staff desk: (template key, plain text)."""
    async with app.store.transaction() as tx:
        rows = await tx.due_outbox(clock(), routes=("staff",))
    return [
        (row.envelope.body.key, to_plain(row.envelope.body.text))
        for row in rows
        if row.envelope.destination == TOPIC and isinstance(row.envelope.body, Reply)
    ]


async def with_staff(app, lang: str) -> Chat:
    chat = Chat(app, locale_hint=lang, user_name="Hanako")
    await chat.user("/staff")
    assert "handoff/opened" in chat.keys
    return chat


INCIDENT_WORDS = {"ja": "カード情報が漏れたかも", "en": "I lost my laptop"}
HELP = {"ja": "24時間の相談窓口", "en": "24-hour"}


@pytest.mark.parametrize("how", ["words", "command"])
async def test_an_incident_during_a_staff_conversation_keeps_ticket_and_relay(staffed, clock, lang, how):
    chat = await with_staff(staffed, lang)
    said = INCIDENT_WORDS[lang] if how == "words" else "/incident"
    await chat.user(said)
    assert chat.keys[:2] == ["incident/first_aid", "incident/kind"], chat.text  # the help, at once
    assert HELP[lang] in chat.text
    async with staffed.store.transaction() as tx:
        state = (await tx.load_conversation(Key.parse("console:test"))).state
        ticket = await tx.open_ticket_of(Key.parse("console:test"))
    assert state["handoff"]["ticket"] == ticket["id"]  # still with staff, ticket open
    seen = await topic(staffed, clock)
    keys = [k for k, _ in seen]
    assert keys[0] == "staff/ticket_header"
    if how == "words":
        assert ("", said) in seen  # staff saw what the user wrote
    assert "staff/incident_opened" in keys  # ...and that a report was opened
    opened = dict(seen)["staff/incident_opened"]
    assert "I-20261122-0001" in opened and "Hanako" in opened

    # The user answers the questions by tapping; a typed message is relayed and still answered.
    await chat.tap("card_leak")
    assert chat.keys and chat.keys[-1].startswith("incident/"), chat.keys
    await chat.user("ちょっと待ってください" if lang == "ja" else "one moment please")
    assert chat.replies, "the dialog answers while staff read along"
    assert ("", "ちょっと待ってください" if lang == "ja" else "one moment please") in await topic(
        staffed, clock
    )


async def test_after_the_incident_dialog_the_quiet_relay_resumes(staffed, clock):
    chat = await with_staff(staffed, "ja")
    await chat.user("/incident")
    await chat.user("/cancel")  # leaves the incident dialog; the conversation is still with staff
    chat.expect("common/cancelled", "menu/start")
    await chat.user("注文の件で相談です")
    chat.expect("handoff/passed")
    await chat.user("/bot")
    assert "handoff/back" in chat.keys


async def test_the_ticket_header_shows_labels_for_typed_numbers(staffed, clock, lang):
    chat = Chat(staffed, locale_hint=lang, user_name="Hanako")
    await chat.user("/quote")
    await chat.user("3億" if lang == "ja" else "300 million")
    chat.expect("quote/industry")
    labels = chat.labels()
    await chat.user("2")  # the console shows numbered answers
    picked = labels[1]
    assert picked == {"ja": "小売業", "en": "Retail"}[lang]
    await chat.user("/staff")
    ((_, header),) = [(k, t) for k, t in await topic(staffed, clock) if k == "staff/ticket_header"]
    lines = [line.strip() for line in header.splitlines()]
    user = "利用者"  # the header is in the staff's language; the user's words in theirs
    assert any(line.startswith(user) and picked in line for line in lines), header
    assert not any(line.startswith(user) and line.endswith(": 2") for line in lines), header
    assert len(header) < 1200, len(header)
