"""The incident dialog, as transcripts: first aid at once, seven questions, then duties and dates.

Everything runs through the real engine on a real SQLite file with a fixed clock: Sunday
2026-11-22 10:00 JST. Dates are written by hand, counting the discovery day as day 1
(dialogs/incident_dates.py): discovered 11/21 → preliminary report 11/23〜11/25, final report
day 30 = 12/20, day 60 = 2027-01-19. Weekdays by hand too (11/22 is a Sunday).
"""

from datetime import datetime

import pytest

from bot.markup import to_plain
from bot.outbox import Outbox
from tests.support.transcript import JST, Chat, Recorder, open_chat_app

REF = "I-20261122-0001"
DESKS = ("0120-258-189", "0120-318-258", "0120-362-119")  # MS&AD, SOMPO, LAC: 24 hours
ASSESSED = (
    "incident/assessment",
    "incident/actions",
    "incident/checklist",
    "incident/document",
    "incident/next",
)
STAFF_ENV = {"TELEGRAM_STAFF_CHAT_ID": "-100123"}

# The dates that matter, as each language writes them with the weekday.
DAYS = {
    "11-20": ("2026年11月20日（金）", "Fri 20 Nov 2026"),
    "11-21": ("2026年11月21日（土）", "Sat 21 Nov 2026"),
    "11-22": ("2026年11月22日（日）", "Sun 22 Nov 2026"),
    "11-23": ("2026年11月23日（月）", "Mon 23 Nov 2026"),
    "11-24": ("2026年11月24日（火）", "Tue 24 Nov 2026"),
    "11-25": ("2026年11月25日（水）", "Wed 25 Nov 2026"),
    "11-26": ("2026年11月26日（木）", "Thu 26 Nov 2026"),
    "12-19": ("2026年12月19日（土）", "Sat 19 Dec 2026"),
    "12-20": ("2026年12月20日（日）", "Sun 20 Dec 2026"),
    "12-21": ("2026年12月21日（月）", "Mon 21 Dec 2026"),
    "01-18": ("2027年1月18日（月）", "Mon 18 Jan 2027"),
    "01-19": ("2027年1月19日（火）", "Tue 19 Jan 2027"),
    "01-20": ("2027年1月20日（水）", "Wed 20 Jan 2027"),
    "05-21": ("2027年5月21日（金）", "Fri 21 May 2027"),
    # 40 days before Sunday 22 Nov 2026 is Tuesday 13 Oct: day 3 = 10/15, day 5 = 10/17,
    # day 30 = 11/11, day 60 = 12/11 (counted by hand, discovery day = day 1).
    "10-13": ("2026年10月13日（火）", "Tue 13 Oct 2026"),
    "10-15": ("2026年10月15日（木）", "Thu 15 Oct 2026"),
    "10-17": ("2026年10月17日（土）", "Sat 17 Oct 2026"),
    "11-11": ("2026年11月11日（水）", "Wed 11 Nov 2026"),
    "12-11": ("2026年12月11日（金）", "Fri 11 Dec 2026"),
}
# What the assessment says about reporting to the PPC (個人情報保護委員会), in (ja, en).
REQUIRED = (
    "\n個人情報保護委員会への報告が必要です。",
    "\nYou need to report this to the Personal Information Protection Commission",
)
ADVISED = (
    "\n個人情報保護委員会への報告をおすすめします",
    "\nWe recommend reporting this to the Personal Information Protection Commission",
)
NOT_REQUIRED = (
    "\n今の回答では、個人情報保護委員会への報告義務には当たらない見込みです",
    "\nFrom your answers so far, a report to the Personal Information Protection Commission",
)


@pytest.fixture(params=["ja", "en"])
def lang(request):
    return request.param


def pick(lang: str, ja: str, en: str) -> str:
    return ja if lang == "ja" else en


def day(lang: str, month_day: str) -> str:
    return pick(lang, *DAYS[month_day])


def found_out(lang: str, d: str) -> str:
    return pick(lang, f"気づいた日: {day('ja', d)}", f"Found out: {day('en', d)}")


def prelim(lang: str, start: str, end: str) -> str:
    ja = f"委員会への速報: {day('ja', start)}〜{day('ja', end)}ごろまで"
    en = f"Preliminary report to the Commission: around {day('en', start)} to {day('en', end)}"
    return pick(lang, ja, en)


def final(lang: str, due: str, improper: str | None = None) -> str:
    """The final-report line: one legal date, or — only while it is unknown whether 規則7条3号
    applies — the 30-day date and the 60-day date `improper`, each saying when it applies."""
    if improper:
        ja = (
            f"委員会への確報: 不正な目的による行為でなければ{day('ja', due)}まで（30日以内）、"
            f"不正な目的による行為なら{day('ja', improper)}まで（60日以内）"
        )
        en = (
            f"Final report to the Commission: by {day('en', due)} (30 days) if it was not done with "
            f"an improper purpose; by {day('en', improper)} (60 days) if it was"
        )
    else:
        ja = f"委員会への確報: {day('ja', due)}まで（法令上の期限）"
        en = f"Final report to the Commission: by {day('en', due)} (the legal deadline)"
    return pick(lang, ja, en)


IMPROPER_ALT = ("不正な目的による行為でなければ", "if it was not done with an improper purpose")


async def open_report(chat: Chat, lang: str = "ja", entry: str = "/incident") -> None:
    """Switch language if asked, then open an incident with `entry` (a command or words)."""
    if lang == "en":
        await chat.user("/lang en")
    await chat.user(entry)
    chat.expect("incident/first_aid", "incident/kind")


async def triage(
    chat: Chat,
    kind: str = "card_leak",
    when: str = "yesterday",
    data: tuple[str, ...] = ("names_contacts", "card_numbers"),
    people: str = "up_to_100",
    encrypted: str = "no",
    contractor: str = "no",
    insurance: str = "none",
) -> None:
    """Answer the seven questions by tapping; a `when` that is not a button is typed."""
    await chat.tap(kind)
    chat.expect("incident/discovered")
    if when in ("now", "earlier_today", "yesterday", "unknown"):
        await chat.tap(when)
    else:
        await chat.user(when)
    chat.expect("incident/data")
    for code in data:
        await chat.tap(code)
    await chat.tap("done")
    chat.expect("incident/people")
    await chat.tap(people)
    chat.expect("incident/encrypted")
    await chat.tap(encrypted)
    chat.expect("incident/contractor")
    await chat.tap(contractor)
    chat.expect("incident/insurance")
    await chat.tap(insurance)


async def report(chat: Chat, lang: str = "ja", **answers) -> None:
    """A whole report from /incident to the assessment."""
    await open_report(chat, lang)
    await triage(chat, **answers)
    chat.expect(*ASSESSED)


def said(chat: Chat, key: str) -> str:
    """The plain text of the last turn's message rendered from `key`."""
    return next(to_plain(r.text) for r in chat.replies if r.key == key)


def tokens(chat: Chat) -> list[str]:
    return [o.token for r in chat.replies for o in r.buttons]


def label_of(chat: Chat, token: str) -> str:
    """The label of a checklist button, whichever way it now points (…1 ticks, …0 unticks)."""
    return next(o.label for r in chat.replies for o in r.buttons if o.token.rpartition(".")[0] == token)


async def saved(app, conversation: str = "console:test") -> list[dict]:
    async with app.store.transaction() as tx:
        return await tx.incidents_for(conversation)


async def staff_messages(app, clock) -> list[str]:
    async with app.store.transaction() as tx:
        rows = await tx.due_outbox(clock(), routes=("staff",))
    return [row.envelope.body.text for row in rows]


def console_worker(app, clock) -> tuple[Recorder, Outbox]:
    """An outbox worker of its own for console conversations, recording what it sends."""
    sent, worker = Recorder(), Outbox(app.store, clock)
    worker.register("console", sent)
    return sent, worker


def at(month: int, dom: int, hour: int, minute: int = 0) -> datetime:
    """A moment in JST, in November-December 2026 or early 2027."""
    year = 2026 if month >= 11 else 2027
    return datetime(year, month, dom, hour, minute, tzinfo=JST)


# -- the first reply ---------------------------------------------------------------------------


def assert_first_aid(chat: Chat) -> None:
    first_aid = said(chat, "incident/first_aid")
    assert all(number in first_aid for number in DESKS)
    assert REF in first_aid


async def test_incident_command_answers_first_aid_before_any_question(chat, lang):
    """/incident answers at once with the three 24-hour desks and a reference, then asks a question."""
    await open_report(chat, lang)
    assert_first_aid(chat)


async def test_incident_menu_button_answers_first_aid_before_any_question(chat, lang):
    """The menu's incident button gives the same first aid, before any question."""
    if lang == "en":
        await chat.user("/lang en")
    await chat.user("/start")
    await chat.tap("incident")
    chat.expect("incident/first_aid", "incident/kind")
    assert_first_aid(chat)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("ja", "お客様の情報が漏えいしたかもしれません"),
        ("ja", "ランサムウェアの画面が出た"),
        ("ja", "メールを誤送信しました"),
        ("ja", "ノートPCを紛失しました"),
        ("ja", "不正アクセスされたみたい"),
        ("en", "I think we got hacked"),
        ("en", "possible data breach"),
        ("en", "ransomware on the office PC"),
        ("en", "customer data leak"),
    ],
)
async def test_incident_plain_words_answer_first_aid_before_any_question(chat, lang, words):
    """Incident words typed in plain language open the report with first aid, in the user's language."""
    await open_report(chat, lang, entry=words)
    assert_first_aid(chat)
    assert pick(lang, "何が起きましたか", "What happened") in said(chat, "incident/kind")


async def test_incident_without_staff_first_aid_does_not_claim_an_alert(app, chat, clock, lang):
    """With no staff chat configured, first aid never says staff were alerted, and nothing is queued."""
    await open_report(chat, lang)
    assert pick(lang, "担当スタッフにも通知しました", "Our staff have been alerted") not in chat.text
    assert await staff_messages(app, clock) == []


# -- one transcript per kind -------------------------------------------------------------------


async def test_incident_card_leak_transcript(chat, lang):
    """A card leak found yesterday: required, 11/23〜11/25, and day 60 = 1/19 alone (規則8条2項:
    a case-3 事態 even with card numbers), PSP first, 180 days."""
    await report(chat, lang, kind="card_leak", when="yesterday", contractor="yes", insurance="rakuten_group")
    assessment = said(chat, "incident/assessment")
    assert pick(lang, *REQUIRED) in assessment
    assert found_out(lang, "11-21") in assessment
    assert prelim(lang, "11-23", "11-25") in assessment
    assert final(lang, "01-19") in assessment
    assert pick(lang, *IMPROPER_ALT) not in assessment
    window = pick(
        lang,
        "保険の費用補償の対象期間: 2026年11月21日〜2027年5月21日（金）",
        "Insurance expense window: 21 Nov 2026 to Fri 21 May 2027",
    )
    assert window in assessment
    assert pick(lang, "決済代行会社", "payment provider") in said(chat, "incident/actions")


async def test_incident_unauthorized_access_transcript(chat, lang):
    """Unauthorized access just now, >1,000 people: required, 11/24〜11/26, day 60 = 1/20 (items 3
    and 4 together are still a case-3 事態, 規則8条2項), save logs, SOMPO desk hedged."""
    await report(
        chat,
        lang,
        kind="unauthorized_access",
        when="now",
        data=("names_contacts", "account_passwords"),
        people="over_1000",
        insurance="sompo",
    )
    assessment = said(chat, "incident/assessment")
    assert pick(lang, *REQUIRED) in assessment
    assert found_out(lang, "11-22") in assessment
    assert prelim(lang, "11-24", "11-26") in assessment
    assert final(lang, "01-20") in assessment
    actions = said(chat, "incident/actions")
    assert pick(lang, "サーバ・ネットワーク機器・クラウドのログ", "Save the logs of servers") in actions
    # domain.md §6 2026-12: the SOMPO number only after a seed number, and hedged.
    assert actions.index("0120-362-119") < actions.index("0120-318-258")
    assert (
        pick(lang, "保険証券・パンフレット記載の番号もご確認ください", "check the number in your policy")
        in actions
    )


async def test_incident_ransomware_transcript(chat, lang):
    """Ransomware, names only: improper purpose alone, so one final date, day 60 = 1/20; keep power on."""
    await report(
        chat, lang, kind="ransomware", when="earlier_today", data=("names_contacts",), people="101_to_1000"
    )
    assessment = said(chat, "incident/assessment")
    assert pick(lang, *REQUIRED) in assessment
    assert prelim(lang, "11-24", "11-26") in assessment
    assert final(lang, "01-20") in assessment
    assert pick(lang, *IMPROPER_ALT) not in assessment
    actions = said(chat, "incident/actions")
    assert pick(lang, "身代金", "ransom note") in actions
    assert pick(lang, "電源はできるだけ入れたまま", "Keep them powered on") in actions


async def test_incident_missent_to_few_names_only_needs_no_report(chat, lang):
    """A missent mail with names of ≤100 people, unencrypted: no report duty, no PPC dates, ask to delete."""
    await report(chat, lang, kind="missent", data=("names_contacts",))
    assessment = said(chat, "incident/assessment")
    assert pick(lang, *NOT_REQUIRED) in assessment
    assert found_out(lang, "11-21") in assessment
    assert pick(lang, "委員会への速報", "Preliminary report") not in assessment
    assert pick(lang, "委員会への確報", "Final report") not in assessment
    notice = pick(lang, "本人へのお知らせをおすすめします", "we recommend telling the people affected")
    assert notice in assessment
    assert not [t for t in tokens(chat) if t.endswith((".ppc_prelim", ".ppc_final"))]
    assert pick(lang, "削除をお願いし", "ask them to delete it") in said(chat, "incident/actions")


async def test_incident_without_deadlines_has_no_empty_dates_heading(chat, lang):
    """No report duty and no insurer: nothing is due, so no dates heading; the found-out day stays."""
    await report(chat, lang, kind="other", when="earlier_today", data=("trade_secrets",))
    lines = said(chat, "incident/assessment").splitlines()
    assert pick(lang, "期限", "Dates") not in lines
    assert any(line.startswith(pick(lang, "気づいた日: ", "Found out: ")) for line in lines)


async def test_incident_lost_device_transcript(chat, lang):
    """A lost laptop: theft not excluded, so advised, 11/23〜11/25 and 12/20 (1/19); report to the police."""
    await report(chat, lang, kind="lost_device", data=("names_contacts",), insurance="other")
    assessment = said(chat, "incident/assessment")
    assert pick(lang, *ADVISED) in assessment
    theft = pick(lang, "紛失か盗難かがまだわからない", "not yet known whether the item was lost or stolen")
    assert theft in assessment
    assert prelim(lang, "11-23", "11-25") in assessment
    assert final(lang, "12-20", improper="01-19") in assessment
    police = pick(lang, "警察署に紛失・盗難を届け出て", "Report the loss or theft at your local police")
    assert police in said(chat, "incident/actions")


async def test_incident_insider_transcript(chat, lang):
    """Staff took My Numbers of 101+ people 2 days ago: both laws require a report, 11/22〜11/24,
    and day 60 = 1/18 (improper purpose, 規則8条2項 and the My Number rule's 2条2号)."""
    await report(
        chat,
        lang,
        kind="insider",
        when=pick(lang, "一昨日", "2 days ago"),
        data=("names_contacts", "my_number"),
        people="101_to_1000",
        contractor="unknown",
        insurance="unknown",
    )
    assessment = said(chat, "incident/assessment")
    assert pick(lang, *REQUIRED) in assessment
    my_number = pick(lang, "番号法にもとづき個人情報保護委員会への報告が必要", "My Number Act also requires")
    assert my_number in assessment
    assert found_out(lang, "11-20") in assessment
    assert prelim(lang, "11-22", "11-24") in assessment
    assert final(lang, "01-18") in assessment
    access = pick(lang, "アカウントやアクセス権を止めるか", "Suspend or restrict the accounts")
    assert access in said(chat, "incident/actions")


async def test_incident_other_kind_without_personal_data_needs_no_report(chat, lang):
    """An "other" incident with trade secrets only: no personal data, no report duty, record the 5W1H."""
    await report(chat, lang, kind="other", when="earlier_today", data=("trade_secrets",))
    assessment = said(chat, "incident/assessment")
    assert pick(lang, *NOT_REQUIRED) in assessment
    assert pick(lang, "個人データが含まれていないため", "Your answers include no personal data") in assessment
    assert pick(lang, "委員会への速報", "Preliminary report") not in assessment
    assert "5W1H" in said(chat, "incident/actions")


async def test_incident_unknown_everywhere_is_advised_with_the_reasons(app, chat, lang):
    """ "Not sure" to every question: advised, each assumption explained, dates counted from today."""
    await report(
        chat,
        lang,
        kind="unknown",
        when="unknown",
        data=("unknown",),
        people="unknown",
        encrypted="unknown",
        contractor="unknown",
        insurance="unknown",
    )
    assessment = said(chat, "incident/assessment")
    assert pick(lang, *ADVISED) in assessment
    reasons = [
        ("個人データが含まれるかわからないため", "It is not known whether personal data is involved"),
        ("事故の種類がはっきりしないため", "The kind of incident is unclear"),
        ("人数がわからないため", "The number of people is unknown"),
        ("高度な暗号化がされていたかわからないため", "not known whether the data was strongly encrypted"),
        ("わからなければ「はい」を選んでください", 'with "Yes" if you are not sure'),
        ("（可能性あり）", "(possibly)"),
        ("不明のため今日として計算", "not known, so counted as today"),
    ]
    for ja, en in reasons:
        assert pick(lang, ja, en) in assessment
    assert found_out(lang, "11-22") in assessment
    assert prelim(lang, "11-24", "11-26") in assessment
    assert final(lang, "12-21", improper="01-20") in assessment
    (record,) = await saved(app)
    assert record["status"] == "assessed"
    assert (record["ppc"]["status"], record["time_assumed"]) == ("advised", True)


# -- the issue-9 transcripts (the law text decides; expected words written by hand) -----------


async def test_incident_hack_with_card_numbers_and_encrypted_yes_transcript(chat, lang):
    """Unauthorized access that took card numbers, "encrypted: yes": never "not required" (規則7条1号
    does not clear an intruder who may reach the key), the card steps (PSP, stop cards, keep
    evidence, PFI) as for a card leak, and the final report on day 60 alone (規則7条3号)."""
    await report(
        chat, lang, kind="unauthorized_access", data=("names_contacts", "card_numbers"), encrypted="yes"
    )
    assessment = said(chat, "incident/assessment")
    assert pick(lang, *REQUIRED) in assessment
    assert pick(lang, *NOT_REQUIRED) not in assessment
    assert (
        pick(
            lang,
            "暗号化による例外には頼らず報告をおすすめします",
            "we do not rely on the encryption exemption",
        )
        in assessment
    )
    assert (
        pick(
            lang,
            "例外が当てはまるかは専門家にご確認ください",
            "A specialist can confirm whether the exemption applies",
        )
        in assessment
    )
    assert pick(lang, "カード情報の漏えいとして扱い", "treated as a card data leak") in assessment
    assert final(lang, "01-19") in assessment
    actions = said(chat, "incident/actions")
    for ja, en in [
        ("すぐに決済代行会社（またはカード会社）に連絡し", "payment provider"),
        ("カード情報の新たな受付・取り扱いを止め", "Stop taking"),
        ("不審なファイルは削除せず", "Do not delete suspicious files"),
        ("認定調査会社（PFI）", "approved investigator (PFI)"),
    ]:
        assert pick(lang, ja, en) in actions
    ticks = [t.rpartition(".")[0].rpartition(".")[2] for t in tokens(chat) if t.startswith("ck.")]
    assert ticks[:2] == ["card_tell_psp", "card_stop_checkout"] and "card_pfi" in ticks


async def test_incident_item_3_with_items_2_and_4_transcript(chat, lang):
    """規則8条2項 gives 60 days whenever the case is one of 7条3号: unauthorized access (3) that took
    bank logins (2) of more than 1,000 people (4), found 11/22, is due on day 60 = 1/20 alone."""
    await report(
        chat,
        lang,
        kind="unauthorized_access",
        when="now",
        data=("names_contacts", "account_passwords"),
        people="over_1000",
    )
    assessment = said(chat, "incident/assessment")
    assert pick(lang, *REQUIRED) in assessment
    for ja, en in [("規則7条2号", "Rule 7(2)"), ("規則7条3号", "Rule 7(3)"), ("規則7条4号", "Rule 7(4)")]:
        assert pick(lang, ja, en) in assessment
    assert final(lang, "01-20") in assessment
    assert pick(lang, *IMPROPER_ALT) not in assessment
    assert "2026" not in assessment.split(pick(lang, "委員会への確報", "Final report"))[1].splitlines()[0]
    same = pick(
        lang,
        "ほかの事態に当たっても同じです",
        "even if card numbers, the number of people or another case applies",
    )
    assert same in assessment


async def test_incident_discovery_40_days_ago_transcript(app, chat, clock, lang):
    """Found 40 days ago (10/13), a lost laptop: the 10/15〜10/17 preliminary window and the 11/11
    30-day date say they have passed and ask to file now (規則8条1項 速やかに); 12/11 stays open;
    overdue reports are reminded from the next morning, never "before the date"."""
    await report(
        chat,
        lang,
        kind="lost_device",
        when=pick(lang, "40日前", "40 days ago"),
        data=("names_contacts",),
        insurance="other",
    )
    assessment = said(chat, "incident/assessment")
    assert pick(lang, *ADVISED) in assessment
    assert found_out(lang, "10-13") in assessment
    passed = pick(
        lang, "この日はすでに過ぎています。今すぐ出してください", "This date has already passed: file it now"
    )
    assert prelim(lang, "10-15", "10-17") in assessment and passed in assessment
    assert final(lang, "11-11", improper="12-11").split(pick(lang, "、", ";"))[0] in assessment
    assert (
        pick(
            lang,
            "（30日以内）・すでに過ぎています",
            "(30 days) if it was not done with an improper purpose (already passed)",
        )
        in assessment
    )
    assert pick(lang, "（60日以内）\n", "(60 days) if it was\n") in assessment + "\n"
    file_now = pick(
        lang,
        "今すぐ、わかっていることだけで速報を出してください",
        "file the preliminary report now, with what you know",
    )
    assert file_now in assessment
    checklist_text = said(chat, "incident/checklist")
    assert pick(lang, "期限を過ぎています。今すぐ", "already passed, do it now") in checklist_text
    assert (
        pick(lang, "次の朝9時から2日続けてお知らせします", "9:00 on the next two mornings") in checklist_text
    )
    # The typed answer was echoed in full before the next question.
    echo = pick(
        lang,
        "「40日前」を 2026年10月13日（火） として記録しました",
        '"40 days ago" is recorded as Tue 13 Oct 2026.',
    )
    assert echo in to_plain("\n".join(r.text for r in chat.history))
    sent, worker = console_worker(app, clock)
    clock.now = at(11, 23, 9, 0)
    await worker.drain()
    assert sorted(row.envelope.tag for row in sent.rows) == [
        f"remind:{REF}:ppc_final",
        f"remind:{REF}:ppc_prelim",
    ]
    text = to_plain(sent.rows[0].body.text)
    assert pick(lang, "期限を過ぎています", "has passed") in text


async def test_incident_ambiguous_12_25_on_2_december_transcript(chat, clock, lang):
    """ "12/25" typed on 2 December 2026 could only be last year's: it is read as 25 Dec 2025 only
    after a confirmation that echoes the full date; a second yearless date is refused; and the
    dates counted from it all say they have passed."""
    clock.now = datetime(2026, 12, 2, 10, 0, tzinfo=JST)
    await open_report(chat, lang)
    await chat.tap("unauthorized_access")
    await chat.user("12/25")
    chat.expect("incident/discovered_year")
    assert (
        pick(
            lang,
            "「12/25」は 2025年12月25日（木） のことですか？",
            'By "12/25", do you mean Thu 25 Dec 2025?',
        )
        in chat.text
    )
    await chat.user("12/26")
    chat.expect("incident/discovered_year_invalid")
    assert pick(lang, "年を含めて入力してください", "with the year") in chat.text
    await chat.tap("yes")
    chat.expect("incident/data")
    assert (
        pick(
            lang,
            "「12/25」を 2025年12月25日（木） として記録しました",
            '"12/25" is recorded as Thu 25 Dec 2025.',
        )
        in chat.text
    )
    for code in ("names_contacts", "done"):
        await chat.tap(code)
    for code in ("up_to_100", "no", "no", "none"):
        await chat.tap(code)
    chat.expect(*ASSESSED)
    assessment = said(chat, "incident/assessment")
    assert pick(lang, "気づいた日: 2025年12月25日（木）", "Found out: Thu 25 Dec 2025") in assessment
    # 25 Dec 2025 + 59 days = 22 Feb 2026 (a Sunday), long past on 2 Dec 2026.
    assert (
        pick(
            lang,
            "2026年2月22日（日）まで（法令上の期限）。この期限はすでに過ぎています",
            "Sun 22 Feb 2026 (the legal deadline). This deadline has already passed",
        )
        in assessment
    )


async def test_incident_ambiguous_date_retyped_with_the_year(chat, clock, lang):
    """At the confirmation, a date typed with its year replaces the guess and is echoed in full."""
    clock.now = datetime(2026, 12, 2, 10, 0, tzinfo=JST)
    await open_report(chat, lang)
    await chat.tap("missent")
    await chat.user("12/25")
    await chat.user("2026/11/25")
    chat.expect("incident/data")
    assert (
        pick(
            lang,
            "「2026/11/25」を 2026年11月25日（水） として記録しました",
            '"2026/11/25" is recorded as Wed 25 Nov 2026.',
        )
        in chat.text
    )


async def test_incident_typed_date_this_year_needs_no_confirmation(chat, clock, lang):
    """ "11/25" on 2 December is this year's, already past: no confirmation, but still echoed."""
    clock.now = datetime(2026, 12, 2, 10, 0, tzinfo=JST)
    await open_report(chat, lang)
    await chat.tap("missent")
    await chat.user("11/25")
    chat.expect("incident/data")
    assert pick(lang, "2026年11月25日（水） として記録しました", "recorded as Wed 25 Nov 2026") in chat.text


async def test_incident_we_are_the_contractor_is_never_told_not_required(chat, lang):
    """法26条1項但書・2項, 規則9条: a contractor is released only by telling its client promptly, so
    the bot says so, puts "tell your client" first, and still says a report is needed."""
    await report(chat, lang, kind="unauthorized_access", contractor="we_are_contractor")
    assessment = said(chat, "incident/assessment")
    assert pick(lang, *REQUIRED) in assessment
    assert (
        pick(
            lang,
            "委託元に報告事項をすみやかに伝えれば",
            "telling your client (the entruster) the report items promptly",
        )
        in assessment
    )
    assert pick(
        lang,
        "委託元（仕事を頼んできた会社）に、すぐに漏えいを知らせて",
        "Tell your client (the business that entrusted",
    ) in said(chat, "incident/actions")


async def test_incident_assessment_says_where_to_file(chat, lang):
    """A report needed names the Commission's online form address and the delegated ministries."""
    await report(chat, lang)
    assessment = said(chat, "incident/assessment")
    assert "https://www.ppc.go.jp/personalinfo/legal/leakAction/" in assessment
    assert pick(lang, "権限の委任", "delegated authority") in assessment


async def test_incident_missent_encrypted_lists_conditions_not_reasons(chat, lang):
    """A strongly encrypted mis-sent file may be exempt (規則7条1号): the verdict lists the
    conditions it rests on, and names the case that applies if any condition fails."""
    await report(chat, lang, kind="missent", data=("sensitive",), encrypted="yes")
    assessment = said(chat, "incident/assessment")
    assert pick(lang, *NOT_REQUIRED) in assessment
    for ja, en in [
        ("次の条件がすべて当てはまる場合に限ります", "only if every one of these conditions is true"),
        (
            "暗号を解く鍵・パスワードが別に守られ、漏れていない",
            "The key or password to decrypt it was kept apart",
        ),
        ("鍵・パスワードを同じ相手に送っていない", "not sent to the same recipient"),
        ("条件が1つでも欠ければ報告が必要です", "If any condition fails, a report is required"),
    ]:
        assert pick(lang, ja, en) in assessment


# -- typed discovery times ---------------------------------------------------------------------


async def test_incident_typed_discovery_time_counts_from_that_day(app, chat, lang):
    """A typed "11/20 14:30" is the discovery moment, echoed in full; preliminary 11/22〜11/24,
    final day 60 = 1/18 (a card leak is a case-3 事態)."""
    await report(chat, lang, when="11/20 14:30")
    assessment = said(chat, "incident/assessment")
    assert found_out(lang, "11-20") in assessment
    assert prelim(lang, "11-22", "11-24") in assessment
    assert final(lang, "01-18") in assessment
    (record,) = await saved(app)
    assert record["facts"]["discovered_at"] == "2026-11-20T14:30:00+09:00"


@pytest.mark.parametrize(
    ("typed", "ja", "en"),
    [
        ("23時", "その日時はまだ来ていません", "That time has not come yet"),
        ("来週かな", "日時として読み取れませんでした", "could not be read as a date or time"),
        ("2026/2/30", "「2026-2-30」という日時はありません", 'There is no such date or time as "2026-2-30"'),
        ("2020-01-01", "3年以上前の日時は受け付けていません", "more than three years ago are not accepted"),
    ],
)
async def test_incident_bad_typed_time_gets_the_matching_reprompt(chat, lang, typed, ja, en):
    """A future, unreadable, impossible or too old typed time says which, and the question stays open."""
    await open_report(chat, lang)
    await chat.tap("card_leak")
    await chat.user(typed)
    chat.expect("incident/discovered_invalid")
    assert pick(lang, ja, en) in chat.text
    assert len(chat.replies[0].buttons) == 4  # the four time buttons come with the reprompt
    await chat.tap("yesterday")
    chat.expect("incident/data")


# -- bad input at every step -------------------------------------------------------------------

# Each question, the taps that answer it, and what the bot asks next.
ROUTE = (
    ("kind", ("card_leak",), ("incident/discovered",)),
    ("discovered", ("yesterday",), ("incident/data",)),
    ("data", ("names_contacts", "done"), ("incident/people",)),
    ("people", ("up_to_100",), ("incident/encrypted",)),
    ("encrypted", ("no",), ("incident/contractor",)),
    ("contractor", ("no",), ("incident/insurance",)),
    ("insurance", ("none",), ASSESSED),
    ("next", ("checklist",), ("incident/checklist", "incident/next")),
)
BAD_INPUT = (" ", "banana", "0", "99", "1 99", "完了", "🙂", "<b>1</b>", "x" * 5000)


@pytest.mark.parametrize("step", [step for step, _, _ in ROUTE])
async def test_incident_bad_input_is_reprompted_and_keeps_the_place(chat, step):
    """Every kind of unusable text at a step gets that step's reprompt, and the step's answer still works."""
    await open_report(chat)
    for name, taps, then in ROUTE:
        if name == step:
            for bad in BAD_INPUT:
                await chat.user(bad)
                assert chat.keys == [f"incident/{step}_invalid"], f"{bad[:20]!r} got {chat.keys}"
        for option in taps:
            await chat.tap(option)
        chat.expect(*then)
        if name == step:
            return


async def test_incident_stale_or_forged_button_is_a_notice_and_the_open_question(chat):
    """A button of an earlier question, or one that never existed, changes nothing: a notice and
    the question open now."""
    await open_report(chat)
    old = chat.token("card_leak")
    await chat.tap("card_leak")
    await chat.tap_token(old)
    chat.expect("incident/discovered")
    assert chat.outcome.notice
    await chat.tap_token("incident.discovered.tomorrow")
    chat.expect("incident/discovered")
    assert chat.outcome.notice
    await chat.tap("yesterday")
    chat.expect("incident/data")


# -- entering in the middle of a quote, and going back to it -----------------------------------


async def test_incident_words_in_the_middle_of_a_quote_then_resume_it(chat, lang):
    """Incident words mid-quote open a report; "resume" goes back and the quote ends in 3,500/7,500."""
    if lang == "en":
        await chat.user("/lang en")
    await chat.user("/quote")
    await chat.user("3億")
    chat.expect("quote/industry")
    await chat.user(pick(lang, "カード情報が漏えいしたかもしれない", "card data may have leaked"))
    chat.expect("incident/first_aid", "incident/kind")
    await triage(chat)
    chat.expect(*ASSESSED)
    assert chat.labels()[-1] == pick(lang, "見積りの続きに戻る", "Back to my quote")
    await chat.tap("resume")
    chat.expect("quote/industry")
    await chat.tap("retail")
    await chat.tap("rakuten")
    await chat.tap("done")
    chat.expect("quote/summary", "quote/next")
    assert pick(lang, "月額 3,500円", "¥3,500 a month") in chat.text
    assert pick(lang, "月額 7,500円", "¥7,500 a month") in chat.text


async def test_incident_resume_keeps_the_quotes_ticked_channels(chat):
    """A quote interrupted with a channel ticked comes back with that tick still there."""
    await chat.user("/quote")
    await chat.user("3億")
    await chat.tap("retail")
    await chat.tap("rakuten")
    await chat.user("ランサムウェアにやられた")
    chat.expect("incident/first_aid", "incident/kind")
    await triage(chat, kind="ransomware")
    await chat.tap("resume")
    chat.expect("quote/channels")
    assert chat.labels()[0] == "✅ 楽天市場"


async def test_incident_words_after_a_finished_report_open_a_new_one(chat):
    """Incident words typed while resting on a finished report start a new one, first aid first."""
    await report(chat)
    await chat.user("また不正アクセスされました")
    chat.expect("incident/first_aid", "incident/kind")
    assert "I-20261122-0002" in chat.text


# -- the saved record --------------------------------------------------------------------------


async def test_incident_record_is_opened_with_the_first_aid(app, chat):
    """The record exists from the first reply on, still in triage, so staff can see it at once."""
    await open_report(chat)
    (record,) = await saved(app)
    assert (record["ref"], record["status"]) == (REF, "triage")
    assert record["opened_at"] == "2026-11-22T10:00:00+09:00"


async def test_incident_record_is_saved_with_facts_and_checklist(app, chat):
    """After the assessment the record holds the answers, the dated checklist and status "assessed"."""
    await open_report(chat)
    await triage(chat, when="昨日の夜9時", contractor="yes", insurance="rakuten_group")
    (record,) = await saved(app)
    assert (record["ref"], record["status"]) == (REF, "assessed")
    assert record["facts"] == {
        "kind": "card_leak",
        "discovered_at": "2026-11-21T21:00:00+09:00",
        "data": ["card_numbers", "names_contacts"],
        "people": "up_to_100",
        "encrypted": "no",
        "contractor": "yes",
        "insurance": "rakuten_group",
    }
    assert [(item["id"], item["due"]) for item in record["checklist"]] == [
        ("card_tell_psp", None),
        ("card_stop_checkout", None),
        ("call_insurer", None),
        ("police_consult", None),
        ("ipa_consult", None),
        ("contractor_report_in_writing", None),
        ("card_pfi", None),
        ("ppc_prelim", "2026-11-25"),
        ("notify_individuals", None),
        ("publication", None),
        ("ppc_final", "2027-01-19"),
        ("expense_window_end", "2027-05-21"),
        ("keep_receipts", None),
    ]
    assert not any(item["done"] for item in record["checklist"])


# -- the document ------------------------------------------------------------------------------

REPORT_ITEMS = {
    "ja": (
        "概要",
        "漏えい等が発生し、又は発生したおそれがある個人データの項目",
        "漏えい等が発生し、又は発生したおそれがある個人データに係る本人の数",
        "原因",
        "二次被害又はそのおそれの有無及びその内容",
        "本人への対応の実施状況",
        "公表の実施状況",
        "再発防止のための措置",
        "その他参考となる事項",
    ),
    "en": (
        "Overview",
        "Items of personal data leaked, or possibly leaked",
        "Number of people whose personal data was leaked, or possibly leaked",
        "Cause",
        "Whether there is secondary damage or a risk of it, and its details",
        "Status of actions toward the people concerned",
        "Status of publication",
        "Measures to prevent recurrence",
        "Other relevant matters",
    ),
}


def document_of(chat: Chat):
    (reply,) = [r for r in chat.replies if r.document is not None]
    return reply.document


def report_sections(text: str, lang: str) -> list[str]:
    """The text under each of the nine numbered headings, in the order the headings appear."""
    starts = [text.index(f"\n{n}. {title}\n") for n, title in enumerate(REPORT_ITEMS[lang], start=1)]
    assert starts == sorted(starts), "report items out of order"
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


@pytest.mark.parametrize(
    ("when", "shown"),
    [
        ("yesterday", "気づいた日時: 2026年11月21日（土）（時刻不明）"),
        ("11/20", "気づいた日時: 2026年11月20日（金）（時刻不明）"),
        ("11/20 14:30", "気づいた日時: 2026年11月20日（金）14:30"),
        ("now", "気づいた日時: 2026年11月22日（日）10:00"),
        ("unknown", "気づいた日時: 2026年11月22日（日）（不明のため受付日として計算）"),
    ],
)
async def test_incident_document_never_invents_a_time_of_day(chat, when, shown):
    """The record shows a time only when the user gave one ("昨日" or "11/20" give a day, not an hour)."""
    await report(chat, when=when)
    assert shown in document_of(chat).content.decode("utf-8")


async def test_incident_document_follows_the_nine_report_items(chat, lang):
    """I-20261122-0001.txt lays out report items 1–9 in order: known facts filled in, the rest open."""
    await open_report(chat, lang)
    await triage(chat, when="昨日の夜9時", encrypted="unknown", contractor="unknown")
    document = document_of(chat)
    assert document.filename == "I-20261122-0001.txt"
    text = document.content.decode("utf-8")
    assert REF in text and "<b>" not in text
    overview, items, people, cause, *later, other = report_sections(text, lang)
    kind = pick(lang, "事故の種類: カード情報の漏えい（スキミング）", "Type of incident: Card data leak")
    assert kind in overview
    assert pick(lang, "2026年11月21日（土）21:00", "Sat 21 Nov 2026, 21:00") in overview
    assert pick(lang, "漏えい等した情報: クレジットカード番号", "Data involved: Credit card numbers") in items
    assert pick(lang, "本人の数: 100人以下", "Number of people: 100 people or fewer") in people
    to_find_out = pick(lang, "要確認", "still to find out")
    assert to_find_out in items  # encryption not known
    assert to_find_out in other  # contractor not known
    assert all(to_find_out in section for section in [cause, *later])


async def test_incident_document_command_sends_the_file_again(chat):
    """/document later, from another dialog, sends the same file again and asks the current question."""
    await chat.user("/document")
    chat.expect("incident/none", "menu/start")
    await report(chat)
    first = document_of(chat)
    await chat.user("/quote")
    await chat.user("/document")
    chat.expect("incident/document", "quote/revenue")
    again = document_of(chat)
    assert (again.filename, again.content) == (first.filename, first.content)


# -- the checklist -----------------------------------------------------------------------------

PSP = f"ck.{REF}.card_tell_psp"


async def test_incident_checklist_tap_ticks_and_unticks_in_place(app, chat, lang):
    """Tapping an item edits the checklist in place with ✅; tapping it again takes the ✅ away."""
    await report(chat, lang)
    assert said(chat, "incident/checklist").count("⬜") == 8
    await chat.tap_token(PSP + ".1")
    chat.expect("incident/checklist")
    assert chat.replies[0].replaces
    assert label_of(chat, PSP) == pick(lang, "✅ 決済代行会社へ連絡", "✅ Tell payment provider")
    assert chat.text.count("⬜") == 7
    (record,) = await saved(app)
    first = record["checklist"][0]
    assert (first["id"], first["done"]) == ("card_tell_psp", True)
    await chat.tap_token(PSP + ".0")
    assert chat.replies[0].replaces and not label_of(chat, PSP).startswith("✅")
    assert chat.text.count("⬜") == 8


async def test_incident_checklist_double_tap_does_not_undo_itself(app, chat):
    """Two taps on the same ✅ button (a double tap) tick the item once; the second is a toast."""
    await report(chat)
    await chat.tap_token(PSP + ".1")
    await chat.tap_token(PSP + ".1")
    assert chat.replies == [] and chat.outcome.notice
    (record,) = await saved(app)
    assert record["checklist"][0]["done"] is True


async def test_incident_checklist_old_style_token_still_toggles(app, chat):
    """A button sent before tokens carried the target state still flips the item."""
    await report(chat)
    await chat.tap_token(PSP)
    (record,) = await saved(app)
    assert record["checklist"][0]["done"] is True


async def test_incident_checklist_command_shows_it_from_another_dialog(chat):
    """/checklist in the middle of a quote shows the ticks so far, then asks the quote question again."""
    await report(chat)
    await chat.tap_token(PSP + ".1")
    await chat.user("/quote")
    await chat.user("/checklist")
    chat.expect("incident/checklist", "quote/revenue")
    assert label_of(chat, PSP) == "✅ 決済代行会社へ連絡"


async def test_incident_checklist_command_without_a_report_says_so(chat):
    """/checklist before any report says there is none and keeps the user where they were."""
    await chat.user("/checklist")
    chat.expect("incident/none", "menu/start")


async def test_incident_checklist_of_a_first_report_stays_available_during_a_second(chat):
    """While a second report is still being triaged, /checklist shows the first report's list."""
    await report(chat)
    await chat.user("/incident")
    chat.expect("incident/first_aid", "incident/kind")
    await chat.user("/checklist")
    chat.expect("incident/checklist", "incident/kind")
    assert REF in chat.text


@pytest.mark.parametrize(
    ("conversation", "token"),
    [
        ("console:someone-else", PSP),  # another conversation's incident
        ("console:test", f"ck.{REF}.no_such_item"),
        ("console:test", "ck.I-20261122-0099.card_tell_psp"),
        ("console:test", "ck."),
    ],
)
async def test_incident_checklist_forged_token_is_a_toast(app, chat, conversation, token):
    """A checklist token that is not this conversation's item is a toast and ticks nothing."""
    await report(chat)
    tapper = chat if conversation == chat.conversation else Chat(app, conversation)
    await tapper.tap_token(token)
    assert tapper.replies == [] and tapper.outcome.notice
    (record,) = await saved(app)
    assert not any(item["done"] for item in record["checklist"])


# -- reminders ---------------------------------------------------------------------------------


async def test_incident_reminder_survives_a_restart_and_is_sent_once(db, clock):
    """A reminder queued at the assessment goes out after a restart at 09:00 the day before, exactly once."""
    first = await open_chat_app(db, clock)
    await report(Chat(first))
    await first.close()

    second = await open_chat_app(db, clock)
    try:
        sent, worker = console_worker(second, clock)
        clock.now = at(11, 24, 8, 59)
        await worker.drain()
        assert sent.rows == []
        clock.now = at(11, 24, 9, 0)
        await worker.drain()
        await worker.drain()
        (row,) = sent.rows
        assert str(row.destination) == "console:test"
        text = to_plain(row.body.text)
        assert REF in text and "速報を出す" in text and "2026年11月25日（水）まで" in text
        assert [[o.token, o.label] for o in row.body.buttons] == [[f"ck.{REF}.ppc_prelim.1", "委員会へ速報"]]
    finally:
        await second.close()


async def test_incident_ticking_an_item_cancels_its_pending_reminders(app, chat, clock):
    """Ticking the item from its first reminder stops the due-day reminder; other items still remind."""
    await report(chat)
    sent, worker = console_worker(app, clock)
    clock.now = at(11, 24, 9, 0)
    await worker.drain()
    (token,) = [o.token for o in sent.rows[0].body.buttons]
    await chat.tap_token(token)
    chat.expect("incident/checklist")
    clock.now = at(11, 25, 9, 0)
    await worker.drain()
    assert len(sent.rows) == 1
    clock.now = at(1, 18, 9, 0)
    await worker.drain()
    assert [row.envelope.tag for row in sent.rows] == [f"remind:{REF}:ppc_prelim", f"remind:{REF}:ppc_final"]


async def test_incident_unticking_restores_the_future_reminders(app, chat, clock):
    """An item ticked and later unticked gets back the reminders still to come, not the ones past."""
    await report(chat)
    await chat.tap_token(f"ck.{REF}.ppc_prelim.1")
    sent, worker = console_worker(app, clock)
    clock.now = at(11, 24, 10, 0)
    await worker.drain()
    assert sent.rows == []
    await chat.tap_token(f"ck.{REF}.ppc_prelim.0")  # not done after all
    await worker.drain()
    assert sent.rows == []  # 11/24 09:00 has passed: not sent late
    clock.now = at(11, 25, 9, 0)
    await worker.drain()
    (row,) = sent.rows
    assert row.envelope.tag == f"remind:{REF}:ppc_prelim"


# -- staff -------------------------------------------------------------------------------------


@pytest.fixture
async def staff_app(db, clock):
    app = await open_chat_app(db, clock, env=STAFF_ENV)
    yield app
    await app.close()


async def test_incident_staff_alert_is_queued_with_the_first_aid(staff_app, clock, lang):
    """With a staff chat, /incident queues a 🚨 alert naming the reference at once and says so."""
    chat = Chat(staff_app)
    await open_report(chat, lang)
    assert pick(lang, "担当スタッフにも通知しました", "Our staff have been alerted too") in chat.text
    (alert,) = await staff_messages(staff_app, clock)
    assert "🚨" in alert and REF in alert and "事故の報告が始まりました" in alert


async def test_incident_assessment_queues_the_staff_summary(staff_app, clock):
    """The assessment queues the incident summary for staff, with the reference and the PPC dates."""
    chat = Chat(staff_app)
    await report(chat)
    _opened, summary = await staff_messages(staff_app, clock)
    assert "事故の要約" in summary and REF in summary
    assert "速報の目安 2026年11月25日まで" in summary and "確報 2027年1月19日まで" in summary


async def test_incident_staff_messages_escape_html_in_user_names(staff_app, clock):
    """A user name with markup reaches staff escaped, in the alert and in the summary."""
    chat = Chat(staff_app, user_name="<b>x</b>")
    await report(chat)
    for message in await staff_messages(staff_app, clock):
        assert "&lt;b&gt;x&lt;/b&gt;" in message and "<b>x</b>" not in message


async def test_incident_checklist_shown_after_a_date_passed_says_so(chat, clock, lang):
    """/checklist on 11/26, after the 11/25 preliminary target (found 11/21), marks that date as
    passed; the final report's day 60 (1/19) is not marked (dates by hand, day 1 = 11/21)."""
    await report(chat, lang)
    clock.now = at(11, 26, 10, 0)
    await chat.user("/checklist")
    text = said(chat, "incident/checklist")
    late = pick(lang, "期限を過ぎています。今すぐ", "already passed, do it now")
    prelim_line = next(line for line in text.splitlines() if day(lang, "11-25") in line)
    final_line = next(
        line for line in text.splitlines() if pick(lang, "2027年1月19日", "19 Jan 2027") in line
    )
    assert late in prelim_line and late not in final_line


async def test_incident_document_lists_the_conditions_of_a_not_required_verdict(chat, lang):
    """The record file repeats a "not required" verdict with the conditions it rests on (規則7条1〜4号)."""
    await report(chat, lang, kind="missent", data=("names_contacts",))
    text = document_of(chat).content.decode("utf-8")
    assert (
        pick(
            lang, "次の条件がすべて当てはまる場合に限ります", "only if every one of these conditions is true"
        )
        in text
    )
    assert pick(lang, "本人の数が1,000人以下である", "1,000 people or fewer are affected") in text
