"""parse_when: typed discovery times, read against an injected "now", with every refusal code.

Expected moments are written by hand. "Now" is Sunday 2026-11-22 10:00 JST unless a row says
otherwise; a day typed without a time means the start of that day (or now, for today).
"""

from datetime import datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dialogs.forms import current_step
from dialogs.incident import INCIDENT, parse_discovered_again
from dialogs.steps import Context, Invalid
from dialogs.when import When, parse_when, read
from rates.coverage import JST

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=JST)


def jst(year, month, day, hour=0, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=JST)


def refusal(text: str, now: datetime = NOW) -> Invalid:
    with pytest.raises(Invalid) as caught:
        parse_when(text, now)
    return caught.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("11/20 14:30", jst(2026, 11, 20, 14, 30)),
        ("2026-11-20", jst(2026, 11, 20)),
        ("2026/11/20 9:05", jst(2026, 11, 20, 9, 5)),
        ("2026年11月20日", jst(2026, 11, 20)),
        ("11月20日 14時", jst(2026, 11, 20, 14)),
        ("11月20日14時15分", jst(2026, 11, 20, 14, 15)),
        ("11/20の14時ごろ", jst(2026, 11, 20, 14)),
        ("20:00 11/20", jst(2026, 11, 20, 20)),
        ("昨日の夜9時", jst(2026, 11, 21, 21)),
        ("昨日", jst(2026, 11, 21)),
        ("きのう 午後3時", jst(2026, 11, 21, 15)),
        ("一昨日 午前3時", jst(2026, 11, 20, 3)),
        ("今朝", NOW),
        ("今日", NOW),
        ("3時間前", jst(2026, 11, 22, 7)),
        ("30分前", jst(2026, 11, 22, 9, 30)),
        ("2日前", jst(2026, 11, 20, 10)),
        ("2 days ago", jst(2026, 11, 20, 10)),
        ("5 hours ago", jst(2026, 11, 22, 5)),
        ("yesterday 9pm", jst(2026, 11, 21, 21)),
        ("Yesterday at 9:30 PM", jst(2026, 11, 21, 21, 30)),
        ("11/20 at 2pm", jst(2026, 11, 20, 14)),
        ("12am", jst(2026, 11, 22, 0)),
        ("8時半", jst(2026, 11, 22, 8, 30)),
        ("午前8時", jst(2026, 11, 22, 8)),
        ("１１／２０　１４：３０", jst(2026, 11, 20, 14, 30)),
        ("３時間前", jst(2026, 11, 22, 7)),
        ("２０２６年１１月２１日", jst(2026, 11, 21)),
    ],
)
def test_when_reads_typed_times(text, expected):
    """Dates, times and relative phrases in Japanese and English give the moment meant."""
    assert parse_when(text, NOW) == expected


@pytest.mark.parametrize(
    ("now", "text", "expected"),
    [
        # A month-day after today means last year: "12/30" typed in January.
        (jst(2027, 1, 10, 10), "12/30", jst(2026, 12, 30)),
        (jst(2027, 1, 10, 10), "12/30 23:00", jst(2026, 12, 30, 23)),
        # Across a month end.
        (jst(2026, 12, 1, 8), "昨日の夜11時", jst(2026, 11, 30, 23)),
        (jst(2026, 12, 1, 8), "10時間前", jst(2026, 11, 30, 22)),
        (jst(2026, 12, 1, 8), "yesterday", jst(2026, 11, 30)),
        # Across a year end.
        (jst(2027, 1, 1, 1), "3時間前", jst(2026, 12, 31, 22)),
        (jst(2027, 1, 1, 10), "昨日", jst(2026, 12, 31)),
        (jst(2027, 1, 1, 10), "2 days ago", jst(2026, 12, 30, 10)),
        # Afternoon words once the afternoon has come.
        (jst(2026, 11, 22, 15), "午後2時", jst(2026, 11, 22, 14)),
        (jst(2026, 11, 22, 15), "今日 14:30", jst(2026, 11, 22, 14, 30)),
    ],
)
def test_when_counts_back_from_the_injected_now(now, text, expected):
    """Relative words and short dates are read against the injected now, across month and year ends."""
    assert parse_when(text, now) == expected


@pytest.mark.parametrize("text", ["", "   ", "　"])
def test_when_empty_text_is_refused(text):
    """Nothing typed (spaces of either width) is refused as empty."""
    assert refusal(text).code == "empty"


def test_when_text_over_sixty_characters_is_refused():
    """More than 60 characters is refused as too long before any reading is tried."""
    assert refusal("x" * 61).code == "too_long"
    assert refusal("x" * 60).code == "unrecognized"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("abc", "abc"),
        ("  明日  ", "明日"),
        ("来週の月曜", "来週の月曜"),
        ("11/20 banana", "11/20 banana"),
        ("13pm", "13pm"),
        ("あ" * 50, "あ" * 40),
    ],
)
def test_when_unreadable_text_is_refused_with_the_users_words(text, fragment):
    """Text that is not wholly a date or time is refused, quoting the user's own words (40 at most)."""
    invalid = refusal(text)
    assert invalid.code == "unrecognized"
    assert invalid.params["fragment"] == fragment


@pytest.mark.parametrize("text", ["23時", "今日 午後3時", "2026-11-23", "10:02", "12pm"])
def test_when_a_time_still_to_come_is_refused(text):
    """A moment later than now (beyond a minute's clock difference) is refused as future."""
    assert refusal(text).code == "future"


def test_when_a_minute_ahead_counts_as_now():
    """A time within the minute's tolerance (a phone clock a little ahead) is read as now, never later."""
    assert parse_when("10:01", NOW) == NOW


@pytest.mark.parametrize("text", ["2020-01-01", "2023-11-01 12:00", "1000000日前", "99999999999 days ago"])
def test_when_more_than_three_years_back_is_refused(text):
    """A moment more than three years ago, however far, is refused as too old."""
    assert refusal(text).code == "too_old"


def test_when_two_years_back_is_accepted():
    """A date a little under three years back is still accepted."""
    assert parse_when("2024-01-01", NOW) == jst(2024, 1, 1)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("2026/2/30", "2026-2-30"), ("11/31", "2026-11-31"), ("13/1", "2026-13-1")],
)
def test_when_a_date_that_does_not_exist_is_refused(text, fragment):
    """February 30th or a 13th month is refused as a bad date, naming the date read."""
    invalid = refusal(text)
    assert (invalid.code, invalid.params["fragment"]) == ("bad_date", fragment)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("25:00", "25:00"), ("11/20 14:75", "14:75"), ("昨日 30時", "30:00")],
)
def test_when_a_time_that_does_not_exist_is_refused(text, fragment):
    """25:00 or minute 75 is refused as a bad time, naming the time read."""
    invalid = refusal(text)
    assert (invalid.code, invalid.params["fragment"]) == ("bad_time", fragment)


# Pieces the parser reacts to, so that random sequences reach deep into it.
PIECES = st.sampled_from(
    [
        *"0123456789０１９",
        "12", "30", "99", "2026", "99999999", "/", "-", ":", ".", " ", "　", "、", "の",
        "年", "月", "日", "時", "分", "半", "前", "ごろ", "昨日", "今日", "今朝", "一昨日",
        "夜", "朝", "午後", "午前", "ago", "days", "hours", "min", "yesterday", "pm", "am", "at",
    ]
)  # fmt: skip


def _is_moment_or_refusal(text: str) -> None:
    try:
        moment = parse_when(text, NOW)
    except Invalid:
        return
    assert moment.tzinfo is not None
    assert moment <= NOW


@given(st.text(max_size=80))
@example("1000000日前")  # once an OverflowError
@example("10:01")  # once a minute after now
def test_when_any_text_gives_a_past_moment_or_a_refusal(text):
    """Whatever is typed, the answer is an aware moment no later than now, or Invalid: nothing else."""
    _is_moment_or_refusal(text)


@given(st.lists(PIECES, max_size=12).map("".join))
def test_when_any_mix_of_date_words_gives_a_past_moment_or_a_refusal(text):
    """Random mixes of digits, separators and date words never escape as another exception."""
    _is_moment_or_refusal(text)


DEC_2 = datetime(2026, 12, 2, 10, 0, tzinfo=JST)

YEAR_TABLE = [
    # id, text, now, moment, has_time, year_guessed — issue 9: a yearless date is this year's
    # unless that is still to come; then last year's, flagged for confirmation.
    ("12_25_on_2_december", "12/25", DEC_2, jst(2025, 12, 25), False, True),
    ("12_25_with_time", "12/25 21:00", DEC_2, jst(2025, 12, 25, 21), True, True),
    ("12_1_is_yesterday", "12/1", DEC_2, jst(2026, 12, 1), False, False),
    ("11_25_this_year", "11月25日", DEC_2, jst(2026, 11, 25), False, False),
    ("today_is_this_year", "12/2", DEC_2, DEC_2, False, False),
    ("with_year_never_guessed", "2025/12/25", DEC_2, jst(2025, 12, 25), False, False),
    ("day_words_never_guessed", "昨日", DEC_2, jst(2026, 12, 1), False, False),
    ("days_ago_never_guessed", "40日前", NOW, jst(2026, 10, 13, 10), False, False),
]


@pytest.mark.parametrize(
    ("text", "now", "moment", "has_time", "guessed"),
    [row[1:] for row in YEAR_TABLE],
    ids=[row[0] for row in YEAR_TABLE],
)
def test_when_a_yearless_date_still_to_come_is_last_years_and_flagged(text, now, moment, has_time, guessed):
    """ "12/25" on 2 December reads as 25 Dec 2025 with year_guessed set, so the dialog confirms it."""
    assert read(text, now) == When(moment, has_time, guessed)


def test_when_a_retyped_date_must_carry_its_year():
    """At the year confirmation a second yearless date is refused with need_year, naming it."""
    context = Context(DEC_2, "ja", "console:test")
    with pytest.raises(Invalid) as caught:
        parse_discovered_again("12/26", context)
    assert (caught.value.code, caught.value.params["typed"]) == ("need_year", "12/26")
    assert parse_discovered_again("2025/12/26", context) == {
        "at": "2025-12-26",
        "typed": "2025/12/26",
        "year_guessed": False,
    }


def test_when_the_year_question_is_asked_only_after_a_guess():
    """The incident step discovered_year is passed by unless the typed date's year was guessed."""
    dialog = INCIDENT
    base = {"opened": {"opened_at": DEC_2.isoformat()}, "kind": "other"}
    guessed = {**base, "discovered_at": {"at": "2025-12-25", "typed": "12/25", "year_guessed": True}}
    plain = {**base, "discovered_at": {"at": "2026-11-25", "typed": "11/25", "year_guessed": False}}
    assert current_step(dialog, guessed).id == "discovered_year"
    assert current_step(dialog, plain).id == "data"
    assert current_step(dialog, {**base, "discovered_at": "yesterday"}).id == "data"
    assert current_step(dialog, {**guessed, "discovered_year": "yes"}).id == "data"
