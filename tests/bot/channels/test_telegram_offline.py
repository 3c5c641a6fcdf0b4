"""The Telegram channel through the real PTB Application, with an in-process request layer."""

import pytest

from bot.channels.telegram_sender import split_text
from tests.support.botapi_stub import BotApiStub
from tests.support.offline import OfflineTelegram, deliver
from tests.support.transcript import open_chat_app

TOKEN = "123:ABC"
USER = 4242


@pytest.fixture
def stub():
    with BotApiStub(TOKEN) as stub:
        yield stub


@pytest.fixture
async def telegram(app, stub):
    async with OfflineTelegram(app.engine, stub) as telegram:
        yield telegram


async def say(telegram, stub, text, **kwargs):
    await deliver(telegram, stub, stub.push_message(USER, text, **kwargs))
    return stub.sent(USER)[-1]


async def tap(telegram, stub, data, message_id=None):
    message_id = message_id or stub.sent(USER)[-1].message_id
    data = stub.button(USER, message_id, data)  # as the keyboard now shows it
    await deliver(telegram, stub, stub.push_callback(USER, message_id, data))


def buttons(sent):
    return [b["callback_data"] for row in sent.reply_markup["inline_keyboard"] for b in row]


async def test_telegram_start_shows_the_menu_with_buttons(telegram, stub):
    """/start answers with the menu text and its four buttons, as HTML Telegram accepts."""
    sent = await say(telegram, stub, "/start")
    assert "ご用件" in sent.text
    assert buttons(sent) == [
        "menu.start.quote",
        "menu.start.incident",
        "menu.start.staff",
        "menu.start.faq",
    ]
    assert stub.calls("sendMessage")[-1].params["parse_mode"] == "HTML"


async def test_telegram_quote_by_buttons_gives_premiums(telegram, stub):
    """/quote, 3億, then buttons by callback data: the result shows both rakuten premiums."""
    await say(telegram, stub, "/quote")
    await say(telegram, stub, "3億")
    await tap(telegram, stub, "quote.industry.retail")
    keyboard = stub.sent(USER)[-1]
    await tap(telegram, stub, "quote.channels.rakuten")
    edited = stub.message(USER, keyboard.message_id)
    assert "✅" in edited["reply_markup"]["inline_keyboard"][0][0]["text"]  # edited in place
    await tap(telegram, stub, "quote.channels.done", keyboard.message_id)
    texts = [s.text for s in stub.sent(USER)]
    result = next(t for t in texts if "お見積り Q-" in t)
    assert "月額 <b>3,500円</b>" in result and "月額 <b>7,500円</b>" in result


async def test_telegram_every_callback_is_answered(telegram, stub):
    """Each button press gets exactly one answerCallbackQuery, stale ones with a toast."""
    await say(telegram, stub, "/quote")
    await say(telegram, stub, "3億")
    industry_message = stub.sent(USER)[-1].message_id
    await tap(telegram, stub, "quote.industry.retail", industry_message)
    await tap(telegram, stub, "quote.industry.retail", industry_message)  # a double tap
    answers = stub.calls("answerCallbackQuery")
    assert len(answers) == 2
    assert answers[0].params.get("text") is None and answers[1].params["text"]


async def test_telegram_duplicate_update_is_processed_once(telegram, stub):
    """Telegram redelivering an update (same update_id) produces no second reply."""
    update_id = stub.push_message(USER, "/quote")
    await deliver(telegram, stub, update_id)
    await deliver(telegram, stub, update_id)
    assert len(stub.sent(USER)) == 1


async def test_telegram_user_text_is_escaped_in_html(telegram, stub):
    """A reprompt that quotes the user's text escapes it, so Telegram's HTML parser accepts it."""
    await say(telegram, stub, "/quote")
    sent = await say(telegram, stub, "<script>alert(1)</script>")
    assert "&lt;script&gt;" in sent.text and stub.calls("sendMessage")[-1].error is None


async def test_telegram_group_messages_are_not_dialogs(telegram, stub):
    """A message in a group the bot is in does not start a conversation."""
    stub.add_chat(-100, chat_type="group", title="Some group", is_forum=False)
    await deliver(telegram, stub, stub.push_message(-100, "/quote", chat_type="group"))
    assert stub.sent(-100) == []


async def test_telegram_photo_gets_an_answer(telegram, stub):
    """A photo in a private chat is answered, never met with silence."""
    await deliver(telegram, stub, stub.push_photo(USER, b"\x89PNG..."))
    assert "文字の回答だけ" in stub.sent(USER)[0].text


async def test_telegram_commands_are_registered_in_both_languages(telegram, stub):
    """The command menu is set in Japanese (default) and English."""
    await telegram.channel.register_commands()
    ja = {c["command"]: c["description"] for c in stub.my_commands()}
    en = {c["command"]: c["description"] for c in stub.my_commands(language_code="en")}
    assert ja["quote"] == "保険料を見積もる" and en["quote"] == "Get a quote"
    assert set(ja) == set(en) >= {"start", "quote", "incident", "staff", "myquotes", "cancel", "lang", "help"}


async def test_telegram_not_modified_edit_is_not_an_error(telegram, stub):
    """An edit Telegram calls "not modified" (a double tap) sends nothing new and raises nothing."""
    await say(telegram, stub, "/quote")
    await say(telegram, stub, "3億")
    await tap(telegram, stub, "quote.industry.retail")
    keyboard = stub.sent(USER)[-1].message_id
    stub.fail_next("editMessageText", description=None)  # the stub's default 400 is "thread not found"
    before = len(stub.sent(USER))
    await tap(telegram, stub, "quote.channels.rakuten", keyboard)
    assert len(stub.sent(USER)) == before + 1  # any other edit failure falls back to a new message


def test_telegram_long_text_is_split_under_the_limit():
    """A message over 4096 characters is cut at line breaks into pieces Telegram accepts."""
    text = "\n".join(f"line {n} " + "x" * 90 for n in range(120))
    pieces = split_text(text)
    assert len(pieces) > 1 and all(len(p) <= 4096 for p in pieces)
    assert "\n".join(pieces) == text


async def test_telegram_refused_reply_goes_out_later_not_lost(telegram, stub, app, clock):
    """When Telegram says "retry after", the unsent replies wait in the outbox and then arrive."""
    stub.fail_next("sendMessage", error_code=429, retry_after=3)
    await deliver(telegram, stub, stub.push_message(USER, "/quote"))
    assert stub.sent(USER) == []
    worker = telegram.outbox
    clock.advance(seconds=3)
    await worker.drain()
    (sent,) = stub.sent(USER)
    assert "1/3 年間売上高" in sent.text


def sends(stub) -> list[tuple[str, dict]]:
    """The Bot API calls that show the user something, without ids that differ between runs."""
    shown = ("sendMessage", "editMessageText", "sendDocument", "answerCallbackQuery", "copyMessage")
    calls = []
    for call in stub.calls():
        if call.method in shown:
            params = {k: v for k, v in call.params.items() if k != "callback_query_id"}
            calls.append((call.method, params, {k: v[0] for k, v in call.files.items()}))
    return calls


async def quote_to_the_tick(telegram, stub) -> None:
    await say(telegram, stub, "/quote")
    await say(telegram, stub, "3億")
    await tap(telegram, stub, "quote.industry.retail")


async def test_telegram_worker_and_direct_path_make_the_same_calls(app, stub, tmp_path, clock):
    """One renderer: a tick that edits in place, with its toast, goes out as the same Bot API calls
    whether sent right after its turn or by the outbox worker after a crash left it unsent."""
    async with OfflineTelegram(app.engine, stub) as telegram:
        await quote_to_the_tick(telegram, stub)
        keyboard = stub.sent(USER)[-1].message_id
        stub.clear()
        await tap(telegram, stub, "quote.channels.rakuten", keyboard)
        direct = sends(stub)

    with BotApiStub(TOKEN) as other:
        second = await open_chat_app(tmp_path / "second.db", clock)
        try:
            async with OfflineTelegram(second.engine, other) as telegram:
                await quote_to_the_tick(telegram, other)
                keyboard = other.sent(USER)[-1].message_id
                other.clear()
                # The process dies before sending (before the tap's early answer too).
                sender = second.outbox.senders.pop("telegram")
                second.engine.plain_answers.pop("telegram")
                await tap(telegram, other, "quote.channels.rakuten", keyboard)
                assert sends(other) == []
                second.outbox.register("telegram", sender)  # restarted: the worker sends what is left
                await second.outbox.drain()
                later = sends(other)
        finally:
            await second.close()
    assert later == direct
    assert [method for method, _, _ in direct] == ["answerCallbackQuery", "editMessageText"]


async def test_telegram_document_with_buttons_is_one_call_both_ways(telegram, stub, app):
    """The incident record goes as one sendDocument with its caption as HTML, the same when the
    worker sends it later."""
    from bot.messages import Document, Envelope, Key, Option, Reply

    reply = Reply(
        "incident/document",
        "<b>I-1</b>",
        actions=(Option("ck.I-1.a.1", "済"),),
        document=Document("I-1.txt", b"record"),
    )
    async with app.store.transaction() as tx:
        await tx.enqueue(Envelope(Key("telegram", str(USER)), reply), clock_now(app))
    await telegram.outbox.drain()
    (call,) = stub.calls("sendDocument")
    assert call.params["caption"] == "<b>I-1</b>" and call.params["parse_mode"] == "HTML"
    assert call.files["document"] == ("I-1.txt", b"record")
    assert call.params["reply_markup"]["inline_keyboard"] == [[{"text": "済", "callback_data": "ck.I-1.a.1"}]]


def clock_now(app):
    return app.engine.clock()
