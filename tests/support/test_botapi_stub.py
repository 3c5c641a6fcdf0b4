"""The Bot API stub against the real python-telegram-bot: round trips, polling, failures."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from contextlib import asynccontextmanager

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, InvalidToken, RetryAfter
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.support.botapi_stub import CONFLICT, BotApiStub
from tests.support.botapi_world import NOT_MODIFIED

TOKEN = "123456:TEST-token"
USER = 42
STAFF = -1001234567890
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("はい", callback_data="q1:yes")]])


@pytest.fixture
def stub():
    with BotApiStub(TOKEN) as stub:
        yield stub


@pytest.fixture
async def bot(stub):
    async with Bot(TOKEN, base_url=stub.base_url, base_file_url=stub.file_base_url) as bot:
        yield bot


@asynccontextmanager
async def polling(stub, *handlers):
    """A real Application polling the stub over HTTP, as quotebot will."""
    app = ApplicationBuilder().token(TOKEN).base_url(stub.base_url).build()
    app.add_handlers(handlers)
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(f"echo: {update.message.text}")


def post(url: str, **params) -> tuple[int, dict]:
    data = json.dumps(params).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


# ---- request/response round trips with telegram.Bot ------------------------------------------


async def test_stub_get_me_returns_the_test_bot(bot):
    """getMe answers a bot user that PTB accepts as its own identity."""
    me = await bot.get_me()
    assert (me.is_bot, me.username, me.id) == (True, "quote_test_bot", 123456)


async def test_stub_send_message_echoes_text_and_keyboard(bot, stub):
    """sendMessage returns the text and inline keyboard and records the sent message."""
    message = await bot.send_message(USER, "保険料は 12,000 円です", reply_markup=KEYBOARD)
    assert message.text == "保険料は 12,000 円です"
    assert message.reply_markup == KEYBOARD
    [sent] = stub.sent(USER)
    assert (sent.message_id, sent.text) == (message.message_id, message.text)
    assert sent.reply_markup["inline_keyboard"][0][0]["callback_data"] == "q1:yes"


async def test_stub_message_ids_increase_per_chat(bot):
    """Each chat numbers its own messages from 1."""
    ids = [(await bot.send_message(chat, "x")).message_id for chat in (USER, USER, 7, USER)]
    assert ids == [1, 2, 1, 3]


async def test_stub_decodes_params_by_type(bot, stub):
    """Text that looks like JSON stays a string; ints and markup come back as JSON values."""
    await bot.send_message(USER, "123", reply_markup=KEYBOARD)
    params = stub.calls("sendMessage")[0].params
    assert params["text"] == "123"
    assert params["chat_id"] == USER
    assert params["reply_markup"] == KEYBOARD.to_dict()


async def test_stub_edit_to_identical_content_raises_not_modified(bot):
    """Editing to the same text and markup fails with Telegram's 'not modified' error."""
    message = await bot.send_message(USER, "選んでください", reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match="Message is not modified") as raised:
        await bot.edit_message_reply_markup(USER, message.message_id, reply_markup=KEYBOARD)
    assert raised.value.message.lower() == NOT_MODIFIED.removeprefix("Bad Request: ").lower()


async def test_stub_edit_text_without_markup_removes_keyboard(bot, stub):
    """editMessageText without reply_markup drops the keyboard, as Telegram does."""
    message = await bot.send_message(USER, "選んでください", reply_markup=KEYBOARD)
    edited = await bot.edit_message_text("ありがとう", USER, message.message_id)
    assert edited.text == "ありがとう" and edited.reply_markup is None
    assert "reply_markup" not in stub.message(USER, message.message_id)


async def test_stub_send_document_records_filename_and_bytes(bot, stub):
    """An uploaded document arrives as multipart with its filename, bytes and caption."""
    message = await bot.send_document(USER, b"%PDF-1.4 quote", filename="見積書.pdf", caption="見積")
    assert (message.document.file_name, message.caption) == ("見積書.pdf", "見積")
    [call] = stub.calls("sendDocument")
    assert call.files == {"document": ("見積書.pdf", b"%PDF-1.4 quote")}
    assert stub.sent(USER)[0].file == ("見積書.pdf", b"%PDF-1.4 quote")


async def test_stub_get_file_downloads_the_stored_bytes(bot, stub):
    """getFile gives a path under file_base_url that serves the file's bytes."""
    stub.push_document(USER, "receipt.pdf", b"%PDF receipt")
    [update] = await bot.get_updates()
    file = await bot.get_file(update.message.document.file_id)
    assert await file.download_as_bytearray() == b"%PDF receipt"


async def test_stub_create_forum_topic_returns_a_new_thread(bot, stub):
    """createForumTopic returns a ForumTopic whose thread then accepts messages."""
    topic = await bot.create_forum_topic(STAFF, "山田 太郎さん")
    await bot.send_message(STAFF, "新しい相談", message_thread_id=topic.message_thread_id)
    assert topic.name == "山田 太郎さん"
    assert [s.text for s in stub.sent(STAFF, thread_id=topic.message_thread_id)] == ["新しい相談"]


async def test_stub_deleted_topic_gives_thread_not_found(bot, stub):
    """A send to a topic staff deleted fails with 'message thread not found'."""
    topic = await bot.create_forum_topic(STAFF, "山田 太郎さん")
    stub.delete_topic(STAFF, topic.message_thread_id)
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_message(STAFF, "続き", message_thread_id=topic.message_thread_id)


async def test_stub_injected_error_surfaces_as_bad_request(bot, stub):
    """fail_next with a params predicate fails only the matching call, once."""
    stub.fail_next("sendMessage", when=lambda params: params.get("message_thread_id") == 99)
    await bot.send_message(STAFF, "general")
    with pytest.raises(BadRequest, match="Message thread not found"):
        await bot.send_message(STAFF, "topic", message_thread_id=99)
    assert stub.calls("sendMessage")[-1].error == "Bad Request: message thread not found"


@pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")
async def test_stub_injected_429_surfaces_as_retry_after(bot, stub):
    """A 429 with parameters.retry_after becomes PTB's RetryAfter."""
    stub.fail_next("sendMessage", error_code=429, retry_after=7)
    with pytest.raises(RetryAfter, match="Retry in 7 seconds"):
        await bot.send_message(USER, "x")


async def test_stub_second_callback_answer_is_rejected(bot, stub):
    """A callback query can be answered once; the second answer gets 'query is too old'."""
    message = await bot.send_message(USER, "選んでください", reply_markup=KEYBOARD)
    stub.push_callback(USER, message.message_id, "q1:yes")
    [update] = await bot.get_updates()
    assert await update.callback_query.answer()
    with pytest.raises(BadRequest, match="Query is too old"):
        await update.callback_query.answer()


async def test_stub_wrong_token_raises_invalid_token(stub):
    """A token other than the stub's gets 401 Unauthorized, which PTB reports as InvalidToken."""
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=stub.base_url):
            pass


def test_stub_unknown_method_gets_404(stub):
    """An unknown method gets Telegram's 404 Not Found envelope."""
    status, body = post(f"{stub.base_url}{TOKEN}/sendTelepathy", chat_id=USER)
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})


# ---- getUpdates ------------------------------------------------------------------------------


async def test_stub_push_message_adds_bot_command_entity(bot, stub):
    """A pushed '/start' carries a bot_command entity, so CommandHandler sees a command."""
    stub.push_message(USER, "/start quote")
    [update] = await bot.get_updates()
    assert update.message.parse_entities() == {update.message.entities[0]: "/start"}
    assert (update.effective_user.id, update.effective_user.language_code) == (USER, "ja")


async def test_stub_get_updates_long_polls_until_a_push(bot, stub):
    """A waiting getUpdates answers as soon as an update is pushed, not at its timeout."""
    threading.Timer(0.2, stub.push_message, (USER, "hi")).start()
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    assert [u.message.text for u in updates] == ["hi"]
    assert time.monotonic() - started < 2


async def test_stub_offset_confirms_updates_forever(bot, stub):
    """Updates are redelivered until a later offset confirms them, then never again."""
    first = stub.push_message(USER, "one")
    assert [u.update_id for u in await bot.get_updates()] == [first]
    assert [u.update_id for u in await bot.get_updates(offset=0)] == [first]  # a restart
    assert await bot.get_updates(offset=first + 1) == ()
    assert await bot.get_updates(offset=0) == ()
    stub.wait_until_confirmed(first, timeout=0)


async def test_stub_newer_get_updates_terminates_the_older_one(bot, stub):
    """Two pollers conflict like two bot instances: the older long poll gets 409 Conflict."""
    answers = []
    url = f"{stub.base_url}{TOKEN}/getUpdates"
    old = threading.Thread(target=lambda: answers.append(post(url, timeout=5)))
    old.start()  # stands in for a killed process whose long poll is still open
    stub.wait_for(lambda s: s.calls("getUpdates"), timeout=5)
    assert await bot.get_updates(timeout=0) == ()
    old.join(5)
    [(status, body)] = answers
    assert (status, body["description"]) == (409, CONFLICT)


def test_stub_close_wakes_a_waiting_get_updates():
    """Closing the stub ends an open long poll at once instead of after its timeout."""
    stub = BotApiStub(TOKEN, max_poll_wait=30)
    answers = []
    url = f"{stub.base_url}{TOKEN}/getUpdates"
    poller = threading.Thread(target=lambda: answers.append(post(url, timeout=30)))
    poller.start()
    stub.wait_for(lambda s: s.calls("getUpdates"), timeout=5)
    started = time.monotonic()
    stub.close()
    poller.join(5)
    assert answers == [(200, {"ok": True, "result": []})]
    assert time.monotonic() - started < 1


def test_stub_wait_for_timeout_lists_the_last_calls(stub):
    """A failed wait says what it waited for and which calls the bot made."""
    post(f"{stub.base_url}{TOKEN}/sendMessage", chat_id=USER, text="こんにちは")
    with pytest.raises(TimeoutError, match="2 message\\(s\\) sent to chat 42") as raised:
        stub.wait_for_sent(USER, 2, timeout=0.1)
    assert 'sendMessage {"chat_id": 42, "text": "こんにちは"}' in str(raised.value)


# ---- a full Application polling over HTTP ----------------------------------------------------


async def test_stub_application_echoes_a_message(stub):
    """A pushed message reaches the handler, whose reply the stub records."""
    async with polling(stub, MessageHandler(filters.TEXT, echo)):
        stub.push_message(USER, "こんにちは")
        [reply] = await stub.async_wait_for_sent(USER, 1, timeout=5)
    assert reply.text == "echo: こんにちは"


async def test_stub_application_answers_a_callback(stub, bot):
    """A pushed button tap reaches a CallbackQueryHandler, which answers and edits."""

    async def tapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer()
        await update.callback_query.edit_message_text(f"chose {update.callback_query.data}")

    message = await bot.send_message(USER, "選んでください", reply_markup=KEYBOARD)
    async with polling(stub, CallbackQueryHandler(tapped)):
        stub.push_callback(USER, message.message_id, "q1:yes")
        await stub.async_wait_for(lambda s: s.calls("editMessageText"), timeout=5)
    [answer] = stub.calls("answerCallbackQuery")
    assert answer.error is None
    assert stub.message(USER, message.message_id)["text"] == "chose q1:yes"


async def test_stub_application_receives_a_redelivered_update_twice(stub):
    """The same update pushed twice reaches the handler twice: dedupe is the bot's job."""
    seen = []

    async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.update_id)

    start = {"type": "bot_command", "offset": 0, "length": 6}
    message = {"message_id": 1, "date": 0, "chat": {"id": USER, "type": "private"}}
    message |= {"from": {"id": USER, "is_bot": False, "first_name": "Taro"}}
    update = {"update_id": 500, "message": message | {"text": "/start", "entities": [start]}}
    async with polling(stub, CommandHandler("start", record)):
        stub.push_raw(update)
        await stub.async_wait_until_confirmed(500, timeout=5)
        stub.push_raw(update)
        await stub.async_wait_for(lambda s: len(seen) == 2, timeout=5)
    assert seen == [500, 500]


async def test_stub_application_stops_fast(stub):
    """Stopping a polling Application does not wait out a long poll."""
    async with polling(stub, MessageHandler(filters.TEXT, echo)):
        await stub.async_wait_for(lambda s: s.calls("getUpdates"), timeout=5)
        started = time.monotonic()
    assert time.monotonic() - started < 1


# ---- a bot in another process ----------------------------------------------------------------

CHILD_BOT = """
import os
from telegram.ext import ApplicationBuilder, MessageHandler, filters

async def echo(update, context):
    await update.message.reply_text(f"pid {os.getpid()}: {update.message.text}")

app = ApplicationBuilder().token(os.environ["TOKEN"])
app = app.base_url(os.environ["TELEGRAM_API_BASE_URL"]).build()
app.add_handler(MessageHandler(filters.TEXT, echo))
app.run_polling(poll_interval=float(os.environ["POLL_INTERVAL"]), timeout=1)
"""


def test_stub_redelivers_to_a_restarted_process_after_sigkill(stub, tmp_path):
    """An update fetched but not yet confirmed when the bot is killed reaches its successor."""
    script = tmp_path / "child_bot.py"
    script.write_text(textwrap.dedent(CHILD_BOT))
    env = os.environ | {"TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": stub.base_url}

    def start(poll_interval: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, script], env=env | {"POLL_INTERVAL": poll_interval})

    first = start("30")  # after a fetch it sleeps 30 s before confirming with the next offset
    try:
        update_id = stub.push_message(USER, "見積")
        stub.wait_for_sent(USER, 1)
        first.send_signal(signal.SIGKILL)
        first.wait(5)
        second = start("0")
        try:
            replies = stub.wait_for_sent(USER, 2)
            stub.wait_until_confirmed(update_id)
        finally:
            second.send_signal(signal.SIGKILL)
            second.wait(5)
    finally:
        first.kill()
    assert [r.text for r in replies] == [f"pid {first.pid}: 見積", f"pid {second.pid}: 見積"]


def test_stub_webhook_delivers_with_the_secret_and_retries_until_2xx():
    """setWebhook: updates are POSTed with the secret header, retried after a 500, then confirmed."""
    import json as _json
    import threading as _threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answers, seen = [500, 200, 200], []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), _json.loads(body)["update_id"]))
            self.send_response(answers.pop(0) if answers else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    _threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/webhooks/telegram"
    try:
        with BotApiStub() as stub:
            status, body = stub.call_api(
                stub.token, "setWebhook", {"url": url, "secret_token": "abc_DEF-123"}, {}
            )
            assert status == 200 and body["result"] is True
            first = stub.push_message(1, "hello")
            stub.wait_until_confirmed(first)
            second = stub.push_message(1, "again")
            stub.wait_until_confirmed(second)
            assert seen == [("abc_DEF-123", first), ("abc_DEF-123", first), ("abc_DEF-123", second)]
            assert stub.deliveries == [(first, 500), (first, 200), (second, 200)]
            status, body = stub.call_api(stub.token, "getUpdates", {}, {})
            assert status == 409 and "webhook is active" in body["description"]
            info = stub.call_api(stub.token, "getWebhookInfo", {}, {})[1]["result"]
            assert info["url"] == url and info["pending_update_count"] == 0
            stub.call_api(stub.token, "deleteWebhook", {}, {})
            assert stub.call_api(stub.token, "getWebhookInfo", {}, {})[1]["result"]["url"] == ""
            bad = stub.call_api(stub.token, "setWebhook", {"url": "http://example.com/x"}, {})
            assert bad[0] == 400 and "HTTPS" in bad[1]["description"]
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_stub_hold_keeps_calls_waiting_until_released():
    import threading as _threading

    with BotApiStub() as stub:
        stub.hold("sendMessage")
        results = []
        call = _threading.Thread(
            target=lambda: results.append(
                stub.call_api(stub.token, "sendMessage", {"chat_id": 5, "text": "x"}, {})
            )
        )
        call.start()
        stub.wait_for(lambda s: s.held_waiting("sendMessage") == 1, timeout=5)
        assert stub.calls("sendMessage") == []
        stub.release("sendMessage", answer=False)
        call.join(5)
        assert results[0][0] == 502 and stub.sent(5) == []
