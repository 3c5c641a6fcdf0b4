"""The incident report through the Telegram transport: staff alert, the record file, the checklist.

The real Telegram channel and PTB Bot over the in-process request layer (tests/support/offline.py), a staff
chat configured, and the Bot API stub checking every message as Telegram would (HTML subset,
callback data size). Queued messages go out when the test drains the outbox.
"""

from datetime import datetime

import pytest

from bot.app import open_app
from tests.support.botapi_stub import BotApiStub
from tests.support.offline import OfflineTelegram, deliver
from tests.support.transcript import JST

TOKEN = "123:ABC"
USER = 4242
STAFF_CHAT = -100123
REF = "I-20261122-0001"


@pytest.fixture
def stub():
    with BotApiStub(TOKEN) as stub:
        yield stub


@pytest.fixture
async def staff_app(db, clock):
    app = await open_app(str(db), env={"TELEGRAM_STAFF_CHAT_ID": str(STAFF_CHAT)}, clock=clock)
    yield app
    await app.close()


@pytest.fixture
async def telegram(staff_app, stub):
    async with OfflineTelegram(staff_app.engine, stub, STAFF_CHAT) as telegram:
        yield telegram


def pause(telegram):
    """A person reads before answering: two seconds pass (and the chat's one message a second,
    bot/limits.py, lets each turn's reply go at once)."""
    telegram.engine.clock.advance(seconds=2)


async def say(telegram, stub, text, **sender):
    pause(telegram)
    await deliver(telegram, stub, stub.push_message(USER, text, **sender))


async def tap(telegram, stub, data, message_id=None):
    """Press the button `data` under `message_id` (by default the latest message to the user)."""
    pause(telegram)
    message_id = message_id or stub.sent(USER)[-1].message_id
    data = stub.button(USER, message_id, data)  # as the keyboard now shows it
    await deliver(telegram, stub, stub.push_callback(USER, message_id, data))


async def ransomware_report(telegram, stub, **sender):
    """Words, then the seven questions answered with buttons: a ransomware report found just now."""
    await say(telegram, stub, "ランサムウェアにやられた", **sender)
    await tap(telegram, stub, "incident.kind.ransomware")
    await tap(telegram, stub, "incident.discovered.now")
    await tap(telegram, stub, "incident.data.names_contacts")
    await tap(telegram, stub, "incident.data.done")
    for data in ("people.101_to_1000", "encrypted.no", "contractor.no", "insurance.none"):
        await tap(telegram, stub, f"incident.{data}")


async def drain(telegram):
    await telegram.outbox.drain()


def buttons(markup: dict | None) -> list[tuple[str, str]]:
    """(callback data, label) of every button of an inline keyboard."""
    rows = (markup or {}).get("inline_keyboard", [])
    return [(b["callback_data"], b["text"]) for row in rows for b in row]


async def test_telegram_incident_staff_alert_goes_to_the_staff_chat(telegram, stub):
    """Incident words queue a 🚨 alert with the reference; it goes to staff with the turn's replies
    (after the commit, never from inside the turn), the name escaped; draining sends nothing more."""
    await say(telegram, stub, "ランサムウェアにやられた", first_name="<b>x</b>")
    first_aid = stub.sent(USER)[0].text
    assert REF in first_aid and "0120-362-119" in first_aid and "担当スタッフにも通知しました" in first_aid
    await drain(telegram)
    (alert,) = stub.sent(STAFF_CHAT)
    assert "🚨" in alert.text and REF in alert.text
    assert "&lt;b&gt;x&lt;/b&gt;" in alert.text
    assert all(call.error is None for call in stub.calls("sendMessage"))


async def test_telegram_incident_summary_goes_to_staff_after_the_assessment(telegram, stub):
    """After the seven answers the staff chat gets the summary too, with the reference and kind."""
    await ransomware_report(telegram, stub)
    await drain(telegram)
    _opened, summary = stub.sent(STAFF_CHAT)
    assert "事故の要約" in summary.text and REF in summary.text and "ランサムウェア" in summary.text


async def test_telegram_incident_record_arrives_as_a_file(telegram, stub):
    """The assessment sends the record with sendDocument as I-20261122-0001.txt, captioned."""
    await ransomware_report(telegram, stub)
    (call,) = stub.calls("sendDocument")
    assert call.error is None and call.params["chat_id"] == USER
    filename, content = call.files["document"]
    assert filename == "I-20261122-0001.txt"
    text = content.decode("utf-8")
    assert REF in text and "1. 概要" in text and "9. その他参考となる事項" in text
    (document,) = [s for s in stub.sent(USER) if s.method == "sendDocument"]
    assert document.text.startswith("📄") and document.message["document"]["file_name"] == filename


async def test_telegram_incident_checklist_tap_edits_the_message_in_place(telegram, stub):
    """Tapping a checklist item edits that message: ✅ on the button and the line, no new message."""
    await ransomware_report(telegram, stub)
    police = f"ck.{REF}.police_consult.1"
    checklist = next(s for s in stub.sent(USER) if police in dict(buttons(s.reply_markup)))
    assert "⬜ 都道府県警察のサイバー犯罪相談窓口か" in checklist.text
    before = len(stub.sent(USER))
    await tap(telegram, stub, police, checklist.message_id)
    assert len(stub.sent(USER)) == before
    edited = stub.message(USER, checklist.message_id)
    assert dict(buttons(edited["reply_markup"]))[f"ck.{REF}.police_consult.0"] == "✅ 警察へ相談"
    assert "✅ 都道府県警察のサイバー犯罪相談窓口か" in edited["text"]


async def test_telegram_incident_reminder_reaches_the_user_with_its_button(telegram, stub, clock):
    """At 09:00 the day before the preliminary-report date the worker sends the reminder with a ✅ button."""
    await ransomware_report(telegram, stub)
    await drain(telegram)
    sent_before = len(stub.sent(USER))
    clock.now = datetime(2026, 11, 25, 9, 0, tzinfo=JST)  # found 11/22: day 5 = 11/26
    await drain(telegram)
    (reminder,) = stub.sent(USER)[sent_before:]
    assert REF in reminder.text and "2026年11月26日（木）まで" in reminder.text
    assert buttons(reminder.reply_markup) == [(f"ck.{REF}.ppc_prelim.1", "委員会へ速報")]
