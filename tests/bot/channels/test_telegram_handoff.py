"""Handing a user to staff and back, through the real PTB Application and the Bot API stub.

The staff group is a forum supergroup; each customer gets one topic. Outbox rows left over are
sent by draining the real outbox, as the running bot's worker would.
"""

import pytest
from telegram import Update

from tests.support.botapi_stub import BotApiStub
from tests.support.offline import OfflineTelegram, deliver, send_owed
from tests.support.transcript import Clock, open_chat_app

TOKEN = "123:ABC"
STAFF = -100123
USER = 4242
STAFF_ENV = {"TELEGRAM_STAFF_CHAT_ID": str(STAFF)}
FLOOD_NOTICE = "メッセージが一度にたくさん届いたため"  # templates/ja/common/flood.j2


class Bot:
    """The running bot: the Application, its outbox worker, and the stub standing in for Telegram."""

    def __init__(self, stub: BotApiStub, application, app):
        self.stub, self.application, self.app = stub, application, app
        self.worker = application.outbox

    async def user(self, text: str, **sender) -> None:
        await deliver(self.application, self.stub, self.stub.push_message(USER, text, **sender))
        await self.worker.drain()

    async def user_photo(self) -> None:
        await deliver(self.application, self.stub, self.stub.push_photo(USER, b"\x89PNG..."))
        await self.worker.drain()

    async def tap(self, data: str) -> None:
        message_id = self.stub.sent(USER)[-1].message_id
        data = self.stub.button(USER, message_id, data)  # as the keyboard now shows it
        await deliver(self.application, self.stub, self.stub.push_callback(USER, message_id, data))
        await self.worker.drain()

    async def staff(self, text: str, thread: int | None = None, chat: int = STAFF) -> None:
        thread = thread if thread is not None else self.thread
        update = self.stub.push_message(
            chat, text, chat_type="supergroup", message_thread_id=thread, is_topic_message=True
        )
        await deliver(self.application, self.stub, update)
        await self.drain_for(seconds=3)

    async def drain_for(self, seconds: int) -> None:
        """Let the outbox run for a few (injected) seconds: one message a second per user chat."""
        for _ in range(seconds):
            await self.worker.drain()
            self.app.engine.clock.advance(seconds=1)

    @property
    def thread(self) -> int:
        (thread,) = self.stub.topics(STAFF)
        return thread

    def to_user(self) -> list[str]:
        return [s.text for s in self.stub.sent(USER)]

    def in_topic(self, thread: int | None = None) -> list[str]:
        return [s.text or "" for s in self.stub.sent(STAFF, thread if thread is not None else self.thread)]


@pytest.fixture
def stub():
    with BotApiStub(TOKEN) as stub:
        stub.add_chat(STAFF, chat_type="supergroup", title="Support", is_forum=True)
        yield stub


@pytest.fixture
async def running(stub, db, clock):
    """The bot as `quotebot telegram` runs it, with a staff group, on a real SQLite file."""
    bots = []

    async def start() -> Bot:
        app = await open_chat_app(db, clock, env=STAFF_ENV)
        application = OfflineTelegram(app.engine, stub, STAFF)
        await application.__aenter__()
        bots.append((application, app))
        return Bot(stub, application, app)

    yield start
    for application, app in bots:
        await application.__aexit__()
        await app.close()


@pytest.fixture
def weekday(clock: Clock) -> Clock:
    """Tuesday 24 November 2026, 10:00 JST: staff are on duty."""
    clock.advance(days=2)
    return clock


async def test_handoff_staff_opens_one_topic_with_a_header(running, stub, weekday):
    """/staff during office hours: the user is told a person will answer; staff get a topic and header."""
    bot = await running()
    await bot.user("/quote")
    await bot.user("3億")
    await bot.user("/staff")
    assert "担当者におつなぎします" in bot.to_user()[-1]
    assert len(stub.calls("createForumTopic")) == 1
    header = bot.in_topic()[0]
    assert "担当者との会話を希望" in header and "3億" in header  # the last messages


async def test_handoff_relays_both_ways_and_staff_stay_anonymous(running, stub, weekday):
    """User text reaches the topic; staff text reaches the user as the bot, with no staff name."""
    bot = await running()
    await bot.user("/staff")
    await bot.user("見積りについて聞きたいです")
    assert bot.in_topic()[-1] == "見積りについて聞きたいです"
    before = len(bot.to_user())
    await bot.user("もう一つ質問です")
    assert len(bot.to_user()) == before  # the bot stays quiet while a person owns the conversation
    await bot.staff("担当の佐藤です。ご用件をどうぞ。")
    assert bot.to_user()[-1] == "担当の佐藤です。ご用件をどうぞ。"
    assert stub.sent(USER)[-1].message["from"]["is_bot"] is True


async def test_handoff_media_is_copied_both_ways(running, stub, weekday):
    """A photo from the user is copied into the topic; a document from staff is copied to the user."""
    bot = await running()
    await bot.user("/staff")
    await bot.user_photo()
    copies = stub.calls("copyMessage")
    assert copies[-1].params["chat_id"] == STAFF and copies[-1].params["message_thread_id"] == bot.thread
    topic = {"message_thread_id": bot.thread, "is_topic_message": True, "chat_type": "supergroup"}
    update = stub.push_document(STAFF, "policy.pdf", b"%PDF", **topic)
    await deliver(bot.application, stub, update)
    await bot.worker.drain()
    assert stub.calls("copyMessage")[-1].params["chat_id"] == USER


async def test_handoff_note_stays_internal(running, stub, weekday):
    """/note is acknowledged in the topic and never reaches the user."""
    bot = await running()
    await bot.user("/staff")
    sent_to_user = len(bot.to_user())
    await bot.staff("/note 折り返し電話希望とのこと")
    assert "メモを残しました" in bot.in_topic()[-1]
    assert len(bot.to_user()) == sent_to_user
    async with bot.app.store.transaction() as tx:
        ticket = await tx.open_ticket_of(f"telegram:{USER}")
    assert ticket["notes"][0]["text"] == "折り返し電話希望とのこと"


async def test_handoff_quote_and_incident_commands_show_the_latest(running, stub, weekday):
    """/quote and /incident in the topic show that user's latest quote and incident."""
    bot = await running()
    for step in ("/quote", "3億"):
        await bot.user(step)
    await bot.tap("quote.industry.retail")
    await bot.tap("quote.channels.rakuten")
    await bot.tap("quote.channels.done")
    await bot.user("/staff")
    await bot.staff("/quote")
    assert "Q-20261124-0001" in bot.in_topic()[-1] and "3,500円" in bot.in_topic()[-1]
    await bot.staff("/incident")
    assert "事故: なし" in bot.in_topic()[-1]


async def test_handoff_close_hands_back_and_the_dialog_resumes(running, stub, weekday):
    """/close tells the user, closes the topic, and the quote continues at the same question."""
    bot = await running()
    await bot.user("/quote")
    await bot.user("3億")
    await bot.user("/staff")
    await bot.staff("/close")
    assert "終了しました" in bot.in_topic()[-1]
    assert "担当者との会話を終了しました" in bot.to_user()[-2]
    assert "2/3 業種" in bot.to_user()[-1]
    assert stub.topics(STAFF)[bot.thread]["closed"] is True
    await bot.tap("quote.industry.retail")
    assert "3/3 販売チャネル" in bot.to_user()[-1]


async def test_handoff_user_goes_back_with_bot_and_resumes(running, stub, weekday):
    """/bot returns the user to the bot at the question they left; staff are told in the topic."""
    bot = await running()
    await bot.user("/quote")
    await bot.user("/staff")
    await bot.user("/bot")
    assert "ボットに戻りました" in bot.to_user()[-2] and "1/3 年間売上高" in bot.to_user()[-1]
    assert "ボットに戻りました" in bot.in_topic()[-1]


async def test_handoff_back_button_works_like_bot(running, stub, weekday):
    """The button under the handoff message returns to the bot as /bot does."""
    bot = await running()
    await bot.user("/staff")
    await bot.tap("handoff.back")
    assert "ボットに戻りました" in bot.to_user()[-2]


async def test_handoff_staff_commands_elsewhere_do_nothing(running, stub, weekday):
    """/close from a chat that is not the staff group, or from the user's own chat, is not a staff act."""
    bot = await running()
    await bot.user("/staff")
    stub.add_chat(-200, chat_type="supergroup", title="Other group", is_forum=True)
    await bot.staff("/close", thread=bot.thread, chat=-200)
    await bot.user("/close")
    assert bot.in_topic()[-1] == "/close"  # the user's "/close" was relayed to staff as text
    async with bot.app.store.transaction() as tx:
        assert await tx.open_ticket_of(f"telegram:{USER}") is not None


async def test_handoff_user_name_is_escaped_in_the_header(running, stub, weekday):
    """HTML in a user's name reaches the header escaped, and Telegram accepts the message."""
    bot = await running()
    await bot.user("/staff", first_name="<b>Evil</b>", last_name="<script>")
    header = stub.sent(STAFF, bot.thread)[0]
    assert "&lt;b&gt;Evil&lt;/b&gt;" in header.text and "<script>" not in header.text
    assert all(c.error is None for c in stub.calls("sendMessage"))


async def test_handoff_deleted_topic_is_recreated_and_nothing_lost(running, stub, weekday):
    """After someone deletes the topic, the next message makes a new topic and still arrives."""
    bot = await running()
    await bot.user("/staff")
    old = bot.thread
    stub.delete_topic(STAFF, old)
    await bot.user("まだいますか？")
    (new,) = stub.topics(STAFF)
    assert new != old
    assert bot.in_topic(new)[-1] == "まだいますか？"
    assert "作り直しました" in bot.in_topic(new)[0]
    await bot.staff("はい、おります。", thread=new)
    assert bot.to_user()[-1] == "はい、おります。"


async def test_handoff_two_quick_first_messages_make_one_topic(running, stub, weekday):
    """/staff and a message before the outbox runs still produce exactly one topic."""
    bot = await running()
    for text in ("/staff", "急ぎです"):
        await deliver(bot.application, stub, stub.push_message(USER, text))
    await bot.worker.drain()
    assert len(stub.calls("createForumTopic")) == 1
    assert bot.in_topic()[-1] == "急ぎです"


async def test_handoff_survives_a_restart(running, stub, weekday):
    """A restart mid-handoff keeps the ticket, the topic and the relays going."""
    bot = await running()
    await bot.user("/staff")
    thread = bot.thread
    await bot.application.__aexit__()
    await bot.app.close()
    again = await running()
    await again.user("再起動後のメッセージ")
    assert again.in_topic(thread)[-1] == "再起動後のメッセージ"
    await again.staff("届いています", thread=thread)
    assert again.to_user()[-1] == "届いています"


async def test_handoff_after_hours_says_when_staff_are_back(running, stub, clock):
    """On Sunday 22 Nov 2026 the user is told staff are back Tuesday 24 Nov 09:00 (23rd is a holiday)."""
    bot = await running()
    await bot.user("/staff")
    message = bot.to_user()[-1]
    assert "本日は休業日です" in message and "2026年11月24日（火）09:00" in message


async def test_handoff_incident_gets_the_24h_numbers_after_hours(running, stub, clock):
    """Asking for staff during an incident repeats the 24-hour numbers."""
    bot = await running()
    await bot.user("ランサムウェアにやられた")
    await bot.user("/staff")
    assert "0120-258-189" in bot.to_user()[-1] and "0120-362-119" in bot.to_user()[-1]


async def test_handoff_no_answer_is_told_kindly_and_cancelled_by_an_answer(running, stub, weekday):
    """15 minutes without an answer: the user is told and offered the bot; a staff answer cancels it."""
    bot = await running()
    await bot.user("/staff")
    weekday.advance(minutes=16)
    await bot.worker.drain()
    assert "お待たせしてしまい申し訳ありません" in bot.to_user()[-1]
    assert stub.sent(USER)[-1].reply_markup["inline_keyboard"][0][0]["callback_data"] == "handoff.back"

    other = await running()  # a second ticket, answered in time
    await other.user("/bot")
    await other.user("/staff")
    await other.staff("お待たせしました")
    weekday.advance(minutes=30)
    await other.worker.drain()
    assert other.to_user()[-1] == "お待たせしました"


async def test_handoff_incident_words_still_work_with_staff(running, stub, weekday):
    """While with staff, 漏えい starts the incident dialog at once; the ticket and the relay stay:
    staff see the message, that a report was opened, and what the user writes next."""
    bot = await running()
    await bot.user("/staff")
    await bot.user("カード情報が漏えいしたかも")
    assert "0120-258-189" in "\n".join(bot.to_user()[-2:])
    message, opened = bot.in_topic()[-2:]
    assert message == "カード情報が漏えいしたかも"
    assert "事故の報告が始まりました" in opened and "I-20261124-0001" in opened
    await bot.user("どうすればいいですか")  # an answer the dialog does not take: relayed and answered
    assert bot.in_topic()[-1] == "どうすればいいですか"
    await bot.user("/bot")  # the ticket was still open: /bot hands the conversation back
    assert bot.in_topic()[-1] == "利用者がボットに戻りました。このチケットは終了です。"


async def test_handoff_staff_group_limit_holds_back_only_staff_rows(running, stub, weekday):
    """25 user messages in a burst: 20 sends reach the group this minute, the rest wait, none are lost."""
    bot = await running()
    await bot.user("/staff")  # opening the topic and its header are 2 of this minute's 20
    for n in range(25):
        await deliver(bot.application, stub, stub.push_message(USER, f"msg {n}"))
    await bot.worker.drain()
    assert len(bot.in_topic()) == 19
    weekday.advance(minutes=1)
    await bot.worker.drain()
    assert bot.in_topic()[-1] == "msg 24" and len(bot.in_topic()) == 26


async def test_handoff_asking_again_after_close_reopens_the_same_topic(running, stub, weekday):
    """After /close, a new request for staff reuses the user's topic, reopened, with a new header."""
    bot = await running()
    await bot.user("/staff")
    thread = bot.thread
    await bot.staff("/close")
    assert stub.topics(STAFF)[thread]["closed"] is True
    await bot.user("/staff")
    assert len(stub.calls("createForumTopic")) == 1
    assert stub.topics(STAFF)[thread]["closed"] is False
    assert "担当者との会話を希望" in bot.in_topic(thread)[-1]
    await bot.user("また質問です")
    assert bot.in_topic(thread)[-1] == "また質問です"


async def test_handoff_a_burst_while_with_staff_is_all_relayed_never_set_aside(running, stub, weekday):
    """While a person owns the conversation, what the user writes is relayed, not answered: a
    burst of 30 in one polling batch (an incident told in pieces) is not a flood to set aside
    (bot/engine.FLOOD_KEEP is 20): every message reaches the topic, in order, and the user is
    not told to send one at a time."""
    bot = await running()
    await bot.user("/staff")
    texts = [f"状況の報告 {n}" for n in range(30)]
    ids = [stub.push_message(USER, text) for text in texts]
    updates = [Update.de_json(stub.pending_update(i), bot.application.bot) for i in ids]
    assert await bot.application.channel.take(updates) == 30
    await bot.app.engine.settle()
    await send_owed(bot.app.engine, bot.app.engine.clock)  # the staff group takes 20 a minute
    assert [t for t in bot.in_topic() if t.startswith("状況の報告")] == texts
    assert not any(FLOOD_NOTICE in text for text in bot.to_user())
