"""Paths that used to end in 「処理中にエラーが起きました」, as a user types them (issue 10).

The walk (tests/test_walk.py) keeps the whole class out; these name the cases people hit.
"""

import pytest

from bot import commands
from tests.bot.test_incident_dialog import triage
from tests.support.transcript import Chat

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
