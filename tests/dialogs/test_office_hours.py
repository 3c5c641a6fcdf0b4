"""Staff office hours: who is on duty, and when they are back (expectations written by hand)."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialogs.office_hours import ConfigError, OfficeHours, closed_reason, is_open, next_open

TOKYO = ZoneInfo("Asia/Tokyo")
DEFAULT = OfficeHours()
LEAP_YEAR = [date(2000, 1, 1) + timedelta(days=n) for n in range(366)]
EVERY_MONTH_DAY = tuple((d.month, d.day) for d in LEAP_YEAR)


def jst(text: str) -> datetime:
    """A Tokyo wall-clock moment from 'YYYY-MM-DD HH:MM[:SS]'."""
    return datetime.fromisoformat(text).replace(tzinfo=TOKYO)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-24 08:59:59", False),  # Tue
        ("2026-11-24 09:00", True),
        ("2026-11-24 17:59:59", True),
        ("2026-11-24 18:00", False),
    ],
)
def test_office_hours_open_from_opening_until_just_before_closing(now, expected):
    """Opening time is inclusive and closing time exclusive on an ordinary weekday."""
    assert is_open(DEFAULT, jst(now)) is expected


@pytest.mark.parametrize(
    ("now", "code"),
    [
        ("2026-11-24 08:59", "before_hours"),  # Tue
        ("2026-11-24 09:00", None),
        ("2026-11-24 17:59", None),
        ("2026-11-24 18:00", "after_hours"),
        ("2026-11-21 12:00", "weekend"),  # Sat
        ("2026-11-23 12:00", "public_holiday"),  # Mon 勤労感謝の日
        ("2026-09-22 12:00", "public_holiday"),  # Tue 国民の休日
        ("2026-05-06 12:00", "public_holiday"),  # Wed 振替休日
        ("2026-12-29 12:00", "year_end"),  # Tue
        ("2027-01-01 12:00", "year_end"),  # Fri 元日: year end wins over holiday
        ("2027-01-02 12:00", "year_end"),  # Sat: year end wins over weekend
        ("2026-05-03 12:00", "weekend"),  # Sun 憲法記念日: weekend wins over holiday
    ],
)
def test_office_hours_closed_reason_codes(now, code):
    """Each closed moment reports one code, day-level reasons before time-of-day ones."""
    assert closed_reason(DEFAULT, jst(now)) == code


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-24 08:59", "2026-11-24 09:00"),  # Tue morning: later today
        ("2026-11-24 10:00", "2026-11-24 10:00"),  # open now: now itself
        ("2026-11-24 18:00", "2026-11-25 09:00"),  # Tue evening: Wed
        ("2026-11-27 18:30", "2026-11-30 09:00"),  # Fri evening: Mon
        ("2026-11-28 10:00", "2026-11-30 09:00"),  # Sat: Mon
        ("2026-11-23 10:00", "2026-11-24 09:00"),  # Mon 勤労感謝の日: Tue
        ("2026-09-19 10:00", "2026-09-24 09:00"),  # Silver Week Sat: Thu
        ("2026-09-18 18:00", "2026-09-24 09:00"),  # Fri before Silver Week: Thu
        ("2026-05-01 18:00", "2026-05-07 09:00"),  # Golden Week 2026: Thu after 振替休日
        ("2026-12-28 18:30", "2027-01-04 09:00"),  # last day before year end: Mon 4 Jan
    ],
)
def test_office_hours_next_open(now, expected):
    """next_open skips closed evenings, weekends, holidays and the year-end break."""
    assert next_open(DEFAULT, jst(now)) == jst(expected)


@pytest.mark.parametrize(
    "day",
    [
        "2026-01-12", "2026-02-11", "2026-02-23", "2026-03-20", "2026-04-29", "2026-05-04",
        "2026-05-05", "2026-05-06", "2026-07-20", "2026-08-11", "2026-09-21", "2026-09-22",
        "2026-09-23", "2026-10-12", "2026-11-03", "2026-11-23", "2027-01-11", "2027-02-11",
        "2027-02-23", "2027-03-22", "2027-04-29", "2027-05-03", "2027-05-04", "2027-05-05",
        "2027-07-19", "2027-08-11", "2027-09-20", "2027-09-23", "2027-10-11", "2027-11-03",
        "2027-11-23",
    ],
)  # fmt: skip
def test_office_hours_weekday_public_holidays_2026_2027(day):
    """Every Japanese public holiday on a weekday in 2026-2027 (checked by hand) is closed."""
    assert closed_reason(DEFAULT, jst(f"{day} 12:00")) == "public_holiday"


@pytest.mark.parametrize("day", ["2026-09-24", "2027-01-04", "2027-03-23", "2027-09-21"])
def test_office_hours_ordinary_weekdays_next_to_holidays_are_open(day):
    """Weekdays right after a holiday run are ordinary working days."""
    assert is_open(DEFAULT, jst(f"{day} 12:00"))


def test_office_hours_utc_input_is_judged_in_tokyo_time():
    """A UTC moment is converted to JST: 23:30Z on Tuesday is 08:30 on Wednesday in Tokyo."""
    now = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    assert closed_reason(DEFAULT, now) == "before_hours"
    assert next_open(DEFAULT, now) == jst("2026-11-25 09:00")


def test_office_hours_next_open_is_in_office_timezone():
    """When open, next_open returns the same instant expressed in the office's timezone."""
    now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # Tue 10:00 JST
    result = next_open(DEFAULT, now)
    assert result == now
    assert result.tzinfo == TOKYO
    assert result.hour == 10


def test_office_hours_naive_datetime_is_rejected():
    """A naive datetime is an error rather than silently read as the server's local time."""
    with pytest.raises(ValueError, match="aware"):
        is_open(DEFAULT, datetime(2026, 11, 24, 10, 0))


def test_office_hours_from_env_without_variables_gives_defaults():
    """No QUOTEBOT_STAFF_* variables (or blank ones) means 9:00-18:00 JST Mon-Fri with JP rules."""
    assert OfficeHours.from_env({}) == DEFAULT
    assert OfficeHours.from_env({"QUOTEBOT_STAFF_HOURS": " ", "QUOTEBOT_STAFF_DAYS": ""}) == DEFAULT


def test_office_hours_from_env_reads_every_variable():
    """Each variable sets its field; day lists, day ranges and MM-DD dates are understood."""
    hours = OfficeHours.from_env(
        {
            "QUOTEBOT_STAFF_HOURS": "10:00-17:30",
            "QUOTEBOT_STAFF_DAYS": "mon,wed,fri-sat",
            "QUOTEBOT_STAFF_CLOSED": "08-13,08-14",
            "QUOTEBOT_STAFF_HOLIDAYS": "none",
        }
    )
    assert hours == OfficeHours(
        opens=time(10, 0),
        closes=time(17, 30),
        weekdays=frozenset({0, 2, 4, 5}),
        closed_dates=((8, 13), (8, 14)),
        public_holidays=False,
    )


def test_office_hours_from_env_closed_none_clears_closed_dates():
    """QUOTEBOT_STAFF_CLOSED=none means no fixed closed dates, so 29 Dec is a working day."""
    hours = OfficeHours.from_env({"QUOTEBOT_STAFF_CLOSED": "none"})
    assert hours.closed_dates == ()
    assert is_open(hours, jst("2026-12-29 12:00"))


@pytest.mark.parametrize(
    ("now", "code"),
    [
        ("2026-11-21 10:00", None),  # Sat is a working day
        ("2026-11-23 16:59", None),  # Mon 勤労感謝の日 is worked with holidays=none
        ("2026-11-24 09:59", "before_hours"),
        ("2026-11-24 17:00", "after_hours"),
        ("2026-11-22 12:00", "weekend"),  # Sun
        ("2026-12-30 12:00", "year_end"),  # default closed dates still apply
    ],
)
def test_office_hours_custom_config_from_env(now, code):
    """10:00-17:00 Mon-Sat with holidays=none is applied as configured."""
    hours = OfficeHours.from_env(
        {
            "QUOTEBOT_STAFF_HOURS": "10:00-17:00",
            "QUOTEBOT_STAFF_DAYS": "mon-sat",
            "QUOTEBOT_STAFF_HOLIDAYS": "none",
        }
    )
    assert closed_reason(hours, jst(now)) == code


def test_office_hours_custom_config_next_open_on_saturday():
    """With Saturday worked and holidays ignored, Friday evening reopens Saturday 10:00."""
    hours = OfficeHours.from_env({"QUOTEBOT_STAFF_HOURS": "10:00-17:00", "QUOTEBOT_STAFF_DAYS": "mon-sat"})
    assert next_open(hours, jst("2026-11-20 17:00")) == jst("2026-11-21 10:00")


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("QUOTEBOT_STAFF_HOURS", "9-18"),
        ("QUOTEBOT_STAFF_HOURS", "09:00-24:00"),
        ("QUOTEBOT_STAFF_HOURS", "18:00-09:00"),
        ("QUOTEBOT_STAFF_HOURS", "09:00-09:00"),
        ("QUOTEBOT_STAFF_DAYS", "monday"),
        ("QUOTEBOT_STAFF_DAYS", "mon-"),
        ("QUOTEBOT_STAFF_DAYS", "fri-mon"),
        ("QUOTEBOT_STAFF_DAYS", "mon,,tue"),
        ("QUOTEBOT_STAFF_CLOSED", "12/29"),
        ("QUOTEBOT_STAFF_CLOSED", "02-30"),
        ("QUOTEBOT_STAFF_CLOSED", "13-01"),
        ("QUOTEBOT_STAFF_HOLIDAYS", "yes"),
        ("QUOTEBOT_STAFF_HOLIDAYS", "jp\nnone"),
    ],
)
def test_office_hours_from_env_bad_value_names_variable(var, value):
    """A bad value raises ConfigError with one line naming the variable and the value."""
    with pytest.raises(ConfigError) as error:
        OfficeHours.from_env({var: value})
    message = str(error.value)
    assert var in message
    assert repr(value) in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weekdays": frozenset()},
        {"weekdays": frozenset({7})},
        {"opens": time(18, 0), "closes": time(9, 0)},
        {"closed_dates": ((2, 30),)},
        {"closed_dates": EVERY_MONTH_DAY},
    ],
    ids=["no-days", "bad-day", "closes-before-opens", "bad-date", "every-date-closed"],
)
def test_office_hours_unworkable_config_is_rejected_at_construction(kwargs):
    """A configuration that is never open fails when built, so next_open cannot loop forever."""
    with pytest.raises(ConfigError):
        OfficeHours(**kwargs)


def test_office_hours_next_open_search_is_bounded():
    """An opening more than 400 days away raises ConfigError instead of searching on."""
    only_1_march = tuple(md for md in EVERY_MONTH_DAY if md != (3, 1))
    hours = OfficeHours(weekdays=frozenset({6}), closed_dates=only_1_march)  # Sundays only
    assert is_open(hours, jst("2026-03-01 10:00"))  # Sun 1 March 2026
    with pytest.raises(ConfigError, match="400 days"):
        next_open(hours, jst("2026-03-01 18:00"))  # next Sunday 1 March is in 2037
