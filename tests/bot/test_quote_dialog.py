"""The quote dialog, as transcripts: revenue → industry → channels → premiums, in ja and en."""

import pytest

from tests.support.transcript import Chat

# What the same answers look like in each language (figures by hand from seed 000).
FIGURES = {
    "ja": {
        "revenue": "3億円",
        "mini": "月額 3,500円",
        "standard": "月額 7,500円",
        "total": "24,500円",
    },
    "en": {
        "revenue": "¥300,000,000",
        "mini": "¥3,500 a month",
        "standard": "¥7,500 a month",
        "total": "¥24,500",
    },
}


@pytest.fixture(params=["ja", "en"])
def lang(request):
    return request.param


async def finish_quote(chat: Chat, revenue: str = "3億", industry: str = "retail", channel: str = "rakuten"):
    """Answer all three questions by tapping, as most users do."""
    await chat.user("/quote")
    await chat.user(revenue)
    await chat.tap(industry)
    await chat.tap(channel)
    await chat.tap("done")


async def start_quote(chat: Chat, lang: str) -> None:
    if lang == "en":
        await chat.user("/lang en")
    await chat.user("/quote")
    chat.expect("quote/revenue")


async def test_quote_four_answers_give_premiums(chat, lang):
    """Four answers (3億, retail, rakuten, done) give mini 3,500 and standard 7,500 a month."""
    await start_quote(chat, lang)
    await chat.user("３億")
    chat.expect("quote/industry")
    assert FIGURES[lang]["revenue"] in chat.text
    await chat.tap("retail")
    chat.expect("quote/channels")
    await chat.tap("rakuten")
    chat.expect("quote/channels")
    assert chat.replies[0].replaces and "✅" in chat.labels()[0]
    await chat.tap("done")
    chat.expect("quote/summary", "quote/next")
    for figure in FIGURES[lang].values():
        assert figure in chat.text
    assert "Q-20261122-0001" in chat.text


async def test_quote_typed_labels_and_numbers_count_as_choices(chat, lang):
    """Typing a label (in either language) or a list number works like tapping the button."""
    await start_quote(chat, lang)
    await chat.user("3億")
    await chat.user("小売業" if lang == "ja" else "retail")
    chat.expect("quote/channels")
    await chat.user("1, 2")
    chat.expect("quote/channels")
    await chat.user("8")  # "done" is listed last, after the seven channels
    chat.expect("quote/summary", "quote/next")
    assert FIGURES[lang]["mini"] in chat.text


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "-3億",
        "0x10",
        "1e999",
        "3億-2",
        "9999兆",
        "1億5",
        "x" * 5000,
        "🙂",
        "три миллиона",
        "<b>1</b>",
    ],
)
async def test_quote_bad_revenue_gets_a_specific_reprompt(chat, bad):
    """Any bad revenue text gets the revenue reprompt and the dialog stays on revenue."""
    await chat.user("/quote")
    await chat.user(bad if bad else " ")
    chat.expect("quote/revenue_invalid")
    await chat.user("3億")
    chat.expect("quote/industry")


async def test_quote_revenue_reprompt_names_what_was_not_understood(chat):
    """The reprompt quotes the unreadable part, escaped, so the user sees what went wrong."""
    await chat.user("/quote")
    await chat.user("3億<script>")
    assert "&lt;script&gt;" in chat.replies[0].text
    assert "<script>" in chat.text


@pytest.mark.parametrize("bad", ["14", "0", "banana", "x" * 5000, "🚀", "1 2", "ｘ"])
async def test_quote_bad_industry_gets_a_reprompt_with_buttons(chat, bad):
    """An industry that matches nothing gets the industry reprompt, buttons included."""
    await chat.user("/quote")
    await chat.user("3億")
    await chat.user(bad)
    chat.expect("quote/industry_invalid")
    assert len(chat.replies[0].buttons) == 13


async def test_quote_done_without_channels_is_refused(chat):
    """ "Done" with nothing ticked asks for at least one channel, by message when typed."""
    await chat.user("/quote")
    await chat.user("3億")
    await chat.tap("retail")
    await chat.user("完了")
    chat.expect("quote/channels_invalid")
    assert "1つ以上" in chat.text


async def test_quote_tapped_done_without_channels_is_a_toast(chat):
    """Tapping "done" with nothing ticked shows a toast and keeps the keyboard as it is."""
    await chat.user("/quote")
    await chat.user("3億")
    await chat.tap("retail")
    await chat.tap("done")
    assert chat.replies == [] and chat.outcome.notice


async def test_quote_bad_channel_text_gets_a_reprompt(chat):
    """Text that names no channel gets the channels reprompt."""
    await chat.user("/quote")
    await chat.user("3億")
    await chat.tap("retail")
    await chat.user("carrier pigeon")
    chat.expect("quote/channels_invalid")


async def test_quote_change_one_answer_requotes(chat):
    """Changing only the revenue asks for it again and requotes with the other answers kept."""
    await finish_quote(chat)
    await chat.tap("change_revenue")
    chat.expect("quote/revenue")
    await chat.user("5億1円")
    chat.expect("quote/summary", "quote/next")
    assert "月額 5,300円" in chat.text and "月額 11,500円" in chat.text  # the 5億超 band
    assert "Q-20261122-0002" in chat.text


async def test_quote_change_channels_starts_from_the_old_ticks(chat):
    """Changing channels shows the keyboard with the earlier choices already ticked."""
    await finish_quote(chat)
    await chat.tap("change_channels")
    chat.expect("quote/channels")
    assert chat.labels()[0].startswith("✅")
    await chat.tap("rakuten")  # untick: no rakuten plan any more
    await chat.tap("own_ec")
    await chat.tap("done")
    assert "ミニコース" not in chat.text and "8,140円" in chat.text


async def test_quote_cancel_midway_then_start_afresh(chat):
    """/cancel forgets the answers so far and shows the menu; /quote starts from revenue."""
    await chat.user("/quote")
    await chat.user("3億")
    await chat.user("/cancel")
    chat.expect("common/cancelled", "menu/start")
    await chat.user("/quote")
    chat.expect("quote/revenue")


async def test_quote_start_midway_keeps_the_quote_to_resume(chat):
    """/start in the middle of a quote shows the menu with a way back to the same question."""
    await chat.user("/quote")
    await chat.user("3億")
    await chat.user("/start")
    chat.expect("menu/start")
    await chat.tap("resume")
    chat.expect("quote/industry")


async def test_quote_restart_on_the_same_database_resumes(db, clock):
    """A restart midway (new process, same file) continues exactly where the user was."""
    from tests.support.transcript import open_chat_app

    first = await open_chat_app(db, clock)
    chat = Chat(first)
    await chat.user("/quote")
    await chat.user("3億")
    await chat.tap("retail")
    await chat.tap("rakuten")
    await first.close()

    second = await open_chat_app(db, clock)
    try:
        chat = Chat(second, _ids=iter(range(100, 200)))
        await chat.user("完了")
        chat.expect("quote/summary", "quote/next")
        assert "月額 3,500円" in chat.text
    finally:
        await second.close()


async def test_quote_stale_button_is_a_notice_and_the_open_question(chat):
    """A button from an earlier question changes nothing: a notice, and the question open now."""
    await chat.user("/quote")
    await chat.user("3億")
    industry = chat.token("retail")
    await chat.tap("retail")
    await chat.tap_token(industry.replace("retail", "wholesale"))
    chat.expect("quote/channels")
    assert chat.outcome.notice == "このボタンは前の質問のものです。最新のメッセージからお答えください。"
    assert not chat.replies[0].replaces  # a new message: the tapped one is an older question
    await chat.tap("rakuten")
    chat.expect("quote/channels")
    await chat.tap("done")
    assert "小売業" in chat.text and "卸売業" not in chat.text


async def channels_open(chat) -> None:
    await chat.user("/quote")
    await chat.user("3億")
    await chat.tap("retail")
    chat.expect("quote/channels")


def ticks(reply) -> list[str]:
    return [o.token.split(".")[2] for o in reply.choices if o.label.startswith("✅")]


async def test_quote_channel_buttons_set_a_state_and_carry_the_keyboard_version(chat):
    """'quote.channels.rakuten.1.v0' ticks 楽天市場 on keyboard 0; the edit shows keyboard 1
    with 'rakuten.0.v1' (untick) under the ticked button."""
    await channels_open(chat)
    assert chat.token("rakuten") == "quote.channels.rakuten.1.v0"
    assert chat.token("done") == "quote.channels.done.v0"
    await chat.tap("rakuten")
    (edit,) = chat.replies
    assert edit.replaces and ticks(edit) == ["rakuten"]
    assert chat.token("rakuten") == "quote.channels.rakuten.0.v1"
    await chat.tap("rakuten")  # untick, from the current keyboard
    assert ticks(chat.replies[0]) == [] and chat.token("rakuten") == "quote.channels.rakuten.1.v2"


async def test_quote_double_tap_keeps_the_tick_and_says_so(chat):
    """Two taps from one keyboard (the second before the edit arrived): the second changes
    nothing, gets a notice, and the tapped message is brought up to date (ticked)."""
    await channels_open(chat)
    token = chat.token("rakuten")
    await chat.tap_token(token)
    await chat.tap_token(token)
    (edit,) = chat.replies
    assert edit.replaces and ticks(edit) == ["rakuten"]
    assert chat.outcome.notice == "表示が古いボタンでした。何も変えずに、今の状態を表示しました。"
    await chat.tap("done")
    assert "楽天市場" in chat.text


async def test_quote_done_on_an_old_keyboard_does_not_finish(chat):
    """完了 pressed on a keyboard that shows another state than the current one: no quote is
    made from what the merchant did not see; they get the current keyboard."""
    await channels_open(chat)
    old_done = chat.token("done")
    await chat.tap("rakuten")
    await chat.tap("own_ec")
    await chat.tap_token(old_done)
    chat.expect("quote/channels")
    assert chat.replies[0].replaces and ticks(chat.replies[0]) == ["rakuten", "own_ec"]
    assert chat.outcome.notice.startswith("表示が古いボタン")
    await chat.tap("done")
    assert "楽天市場・自社ECサイト" in chat.text


async def test_quote_unversioned_or_forged_channel_data_changes_nothing(chat):
    """Data no current button sends (an old client's 'quote.channels.rakuten', a forged target,
    extra parts) is a notice and the current keyboard, never a tick."""
    await channels_open(chat)
    for data in (
        "quote.channels.rakuten",
        "quote.channels.rakuten.7.v0",
        "quote.channels.rakuten.1.v9",
        "quote.channels.rakuten.1.v0.x",
        "quote.channels.nosuch.1.v0",
    ):
        await chat.tap_token(data)
        assert chat.keys == ["quote/channels"] and ticks(chat.replies[0]) == [], data
        assert chat.outcome.notice, data


async def test_quote_forged_data_on_the_revenue_question_gets_its_reprompt(chat):
    """'quote.revenue.x' while the revenue question is open (no buttons there): the question again
    with a notice, no exception (it was 'Ask' object has no attribute 'options')."""
    await chat.user("/quote")
    chat.expect("quote/revenue")
    for data in ("quote.revenue.x", "quote.revenue", "quote.revenue.x.1.v0", "quote", "", "...."):
        await chat.tap_token(data)
        assert chat.keys == ["quote/revenue"], data
        assert chat.outcome.notice and "common/error" not in chat.keys
    await chat.user("3億")
    chat.expect("quote/industry")


async def test_quote_change_channels_makes_older_keyboards_stale(chat):
    """After 完了 the old keyboard's version is past: a tap on it later changes nothing."""
    await channels_open(chat)
    await chat.tap("rakuten")
    old = chat.token("own_ec")
    await chat.tap("done")
    await chat.tap("change_channels")
    chat.expect("quote/channels")
    await chat.tap_token(old)
    assert ticks(chat.replies[0]) == ["rakuten"] and chat.outcome.notice.startswith("表示が古いボタン")


async def test_quote_myquotes_lists_saved_quotes(chat):
    """/myquotes lists the user's quotes with reference and premiums, newest first."""
    await finish_quote(chat)
    await chat.user("/myquotes")
    chat.expect("quote/mine", "quote/next")
    assert "Q-20261122-0001" in chat.text and "3,500円" in chat.text


async def test_quote_declined_industry_says_why(chat):
    """A public body with a Rakuten shop is told it cannot join the 三井住友海上 scheme, with the
    reason and the agent's number (seed 000/004), and still sees the other products (issue 9)."""
    await chat.user("/quote")
    await chat.user("3億")
    await chat.tap("public_body")
    await chat.tap("rakuten")
    await chat.tap("done")
    assert "官公庁・地方公共団体・独立行政法人は加入の対象外です" in chat.text
    assert "0120-994-294" in chat.text
    assert "https://www.sompo-japan.co.jp/hinsurance/cyberrisk/" in chat.text
    assert "ご案内できる保険はありません" not in chat.text


async def test_quote_above_ceiling_refers_to_the_agent(chat):
    """Above 10億円 a rakuten merchant is referred to 0120-994-294 instead of a premium."""
    await chat.user("/quote")
    await chat.user("12億")
    await chat.tap("retail")
    await chat.tap("rakuten")
    await chat.tap("done")
    assert "0120-994-294" in chat.text and "ミニコース" not in chat.text


@pytest.mark.parametrize("command", ["/", "/frobnicate", "/QUOTE_ME"])
async def test_quote_unknown_command_says_so_and_keeps_the_place(chat, command):
    """An unknown command is named, then the current question is asked again."""
    await chat.user("/quote")
    await chat.user("3億")
    await chat.user(command)
    chat.expect("common/unknown_command", "quote/industry")


async def test_quote_media_is_answered_and_the_question_repeated(chat):
    """A photo in the middle of a quote gets a clear message and the same question again."""
    await chat.user("/quote")
    await chat.media()
    chat.expect("common/media_unsupported", "quote/revenue")


async def test_quote_duplicate_event_is_processed_once(chat):
    """The same platform event delivered twice changes the conversation once."""
    await chat.user("/quote", event_id="telegram:1")
    await chat.user("3億", event_id="telegram:2")
    await chat.user("3億", event_id="telegram:2")
    assert chat.outcome.duplicate and chat.replies == []
    await chat.tap("retail")
    chat.expect("quote/channels")


async def test_quote_first_words_get_the_welcome_not_a_scolding(chat):
    """Someone's first message, whatever it is, is answered with the welcome menu."""
    await chat.user("こんにちは")
    chat.expect("menu/start")
    assert "こんにちは" in chat.text and len(chat.replies[0].buttons) == 4


async def test_quote_lang_switches_and_repeats_the_question(chat):
    """/lang toggles the language and asks the current question again in it."""
    await chat.user("/quote")
    await chat.user("/lang")
    chat.expect("common/lang_set", "quote/revenue")
    assert "Annual revenue" in chat.text
    await chat.user("/lang ja")
    assert "年間売上高" in chat.text


async def test_quote_english_telegram_users_start_in_english(app):
    """A user whose Telegram language is English is greeted in English."""
    chat = Chat(app, conversation="telegram:7", locale_hint="en-GB")
    await chat.user("/start")
    assert "What would you like to do?" in chat.text


async def test_quote_conversations_run_concurrently_and_apart(app):
    """Two users quoting at once each get their own answers and their own reference."""
    import asyncio

    async def run(chat, revenue):
        await chat.user("/quote")
        await chat.user(revenue)
        await chat.tap("retail")
        await chat.tap("rakuten")
        await chat.tap("done")
        return chat.text

    a, b = Chat(app, "console:a"), Chat(app, "console:b")
    text_a, text_b = await asyncio.gather(run(a, "2千万"), run(b, "9億"))
    assert "月額 1,000円" in text_a and "月額 5,300円" in text_b
    assert {"Q-20261122-0001", "Q-20261122-0002"} == {
        ref for ref in ("Q-20261122-0001", "Q-20261122-0002") if ref in text_a + text_b
    }


async def test_quote_delete_my_data_forgets_quotes(chat):
    """/delete, confirmed, removes the saved quotes and the conversation."""
    await finish_quote(chat)
    await chat.user("/delete")
    chat.expect("privacy/confirm")
    await chat.tap("delete_confirm")
    chat.expect("privacy/deleted", "menu/start")
    await chat.user("/myquotes")
    assert "ありません" in chat.text


@pytest.mark.parametrize("bad", ["9", "もう一回", "x" * 5000, "🙂", "0"])
async def test_quote_bad_choice_after_the_result_gets_the_menu_again(chat, bad):
    """After the result, text that names no option gets that menu's reprompt with its buttons."""
    await finish_quote(chat)
    await chat.user(bad)
    chat.expect("quote/next_invalid")
    assert len(chat.replies[0].buttons) == 8


async def test_quote_bad_choice_at_the_start_menu_gets_its_reprompt(chat):
    """Once past the greeting, text that names nothing on the /start menu gets its reprompt."""
    await chat.user("/start")
    await chat.user("banana")
    chat.expect("menu/start_invalid")
    assert len(chat.replies[0].buttons) == 4
