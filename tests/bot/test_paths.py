"""Paths that used to end in 「処理中にエラーが起きました」, as a user types them (issue 10).

The walk (tests/test_walk.py) keeps the whole class out; these name the cases people hit.
"""

import pytest

from bot import commands
from bot.markup import to_plain
from tests.bot.test_incident_dialog import triage
from tests.support.transcript import Chat, open_chat_app

RESUME_QUOTE = {"ja": "見積りの続きに戻る", "en": "Back to my quote"}


@pytest.fixture(params=["ja", "en"])
def lang(request):
    return request.param


async def quote_set_aside(chat: Chat, lang: str) -> None:
    if lang == "en":
        await chat.user("/lang en")
    await chat.user("/quote")
    await chat.user("3億")
    chat.expect("quote/industry")


@pytest.mark.parametrize("typed", ["5", "label"])
async def test_typed_resume_at_the_start_menu_returns_to_the_quote(chat, lang, typed):
    """/quote, 3億, /start, then "5" or the label: back at the industry question, no error."""
    await quote_set_aside(chat, lang)
    await chat.user("/start")
    chat.expect("menu/start")
    assert chat.labels()[-1] == RESUME_QUOTE[lang]
    await chat.user("5" if typed == "5" else RESUME_QUOTE[lang])
    chat.expect("quote/industry")


async def test_typed_number_of_a_home_option_at_the_resume_menu_still_works(chat, lang):
    """ "1" at the menu (the quote) resumes the quote where it was."""
    await quote_set_aside(chat, lang)
    await chat.user("/start")
    await chat.user("1")
    chat.expect("quote/industry")


@pytest.mark.parametrize("typed", ["1", "label"])
async def test_delete_during_a_quote_can_be_confirmed_by_typing(chat, lang, typed):
    """/delete in the middle of a quote, then "1" or 「削除する」: the data is deleted."""
    await quote_set_aside(chat, lang)
    await chat.user("/delete")
    chat.expect("privacy/confirm")
    await chat.user("1" if typed == "1" else chat.labels()[0])
    chat.expect("privacy/deleted", "menu/start")
    async with chat.app.store.transaction() as tx:
        assert await tx.quotes_for("console:test") == []


async def test_back_to_my_quote_after_an_incident_is_in_the_users_language(chat, lang):
    """A quote set aside by an incident: at the incident's last menu, typing "back to my quote"
    (or its number) returns to it, in the user's language."""
    await quote_set_aside(chat, lang)
    await chat.user("/incident")
    await triage(chat)
    assert chat.replies[-1].key == "incident/next"
    assert chat.labels()[-1] == RESUME_QUOTE[lang]
    await chat.user(RESUME_QUOTE[lang])
    chat.expect("quote/industry")
    assert ("業種" in chat.text) == (lang == "ja")


async def test_the_generic_error_is_in_the_conversations_language(chat, monkeypatch):
    """A user who switched to English (on a Japanese phone) reads the error in English."""

    async def broken(turn, args):
        raise RuntimeError("boom")

    await chat.user("/lang en")
    monkeypatch.setitem(commands.COMMANDS, "help", broken)
    await chat.user("/help")
    chat.expect("common/error")
    assert "Sorry" in chat.text and "申し訳" not in chat.text


# -- incident words against insurance questions ------------------------------------------------

STAFF_ENV = {"TELEGRAM_STAFF_CHAT_ID": "-100123"}


@pytest.fixture
async def staffed(db, clock):
    app = await open_chat_app(db, clock, env=STAFF_ENV)
    yield app
    await app.close()


async def staff_texts(app, clock) -> list[str]:
    async with app.store.transaction() as tx:
        rows = await tx.due_outbox(clock(), routes=("staff",))
    return [to_plain(row.envelope.body.text) for row in rows]


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("情報漏えい保険の見積りをお願いします", ["quote/revenue"]),
        ("ランサムウェアの補償はありますか", ["faq/what_is_covered", "faq/topics"]),
        ("不正アクセスの補償内容を知りたい", ["faq/what_is_covered", "faq/topics"]),
        ("I want a quote for data leak insurance", ["quote/revenue"]),
    ],
)
async def test_a_question_about_cover_opens_no_record_and_alerts_nobody(staffed, clock, text, keys):
    """Questions about insurance go to the quote or the FAQ: no incident record, no staff alert."""
    chat = Chat(staffed)
    await chat.user("/start")
    await chat.user(text)
    chat.expect(*keys)
    async with staffed.store.transaction() as tx:
        assert await tx.incidents_for("console:test") == []
    assert await staff_texts(staffed, clock) == []


@pytest.mark.parametrize("text", ["PCをなくした", "カード情報が漏れたかも", "I lost my laptop"])
async def test_missed_real_events_now_start_the_incident_help(chat, text):
    await chat.user(text)
    chat.expect("incident/first_aid", "incident/kind")


async def test_a_bare_incident_word_asks_once_whether_it_happened(chat, lang):
    """「漏えい」 alone: one tap decides. Yes: first aid at once. No: the answer about cover."""
    if lang == "en":
        await chat.user("/lang en")
    await chat.user("漏えい" if lang == "ja" else "data leak")
    chat.expect("happened/ask")
    await chat.tap("yes")
    chat.expect("incident/first_aid", "incident/kind")
    await chat.user("/cancel")
    await chat.user("ransomware")
    chat.expect("happened/ask")
    await chat.user("2")
    chat.expect("faq/topics")


async def test_a_bare_incident_word_during_a_quote_keeps_the_quote(chat):
    await chat.user("/quote")
    await chat.user("3億")
    await chat.user("不正アクセス")
    chat.expect("happened/ask")
    assert chat.labels()[-1] == RESUME_QUOTE["ja"]
    await chat.user(RESUME_QUOTE["ja"])
    chat.expect("quote/industry")


async def test_a_report_opened_by_mistake_is_withdrawn_in_one_tap(staffed, clock):
    """The first question has a withdraw button; staff hear it was a false alarm."""
    chat = Chat(staffed, user_name="Hanako")
    await chat.user("/incident")
    chat.expect("incident/first_aid", "incident/kind")
    await chat.tap("withdraw")
    chat.expect("common/withdrawn", "menu/start")
    assert "誤報" in chat.text
    async with staffed.store.transaction() as tx:
        (record,) = await tx.incidents_for("console:test")
    assert record["status"] == "withdrawn"
    opened, withdrawn = await staff_texts(staffed, clock)
    assert "I-20261122-0001" in opened
    assert "I-20261122-0001" in withdrawn and "誤報" in withdrawn and "Hanako" in withdrawn


async def test_cancel_of_an_alerted_report_tells_staff(staffed, clock):
    chat = Chat(staffed)
    await chat.user("/incident")
    await chat.tap("card_leak")
    await chat.user("/cancel")
    chat.expect("common/cancelled", "menu/start")
    assert "担当者にも" in chat.text
    *_, last = await staff_texts(staffed, clock)
    assert "中止" in last and "I-20261122-0001" in last
    async with staffed.store.transaction() as tx:
        (record,) = await tx.incidents_for("console:test")
    assert record["status"] == "cancelled"


async def test_withdraw_without_staff_claims_no_alert(chat):
    await chat.user("/lang en")
    await chat.user("/incident")
    await chat.user("9")  # the withdraw button, listed after the eight kinds
    chat.expect("common/withdrawn", "menu/start")
    assert "false alarm" not in chat.text


async def test_cancel_right_after_quote_says_it_cancelled(chat):
    await chat.user("/quote")
    await chat.user("/cancel")
    chat.expect("common/cancelled", "menu/start")
