"""Whether support staff are on duty at a given moment, and when they are next on duty."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import NoReturn
from zoneinfo import ZoneInfo

import holidays

JST = ZoneInfo("Asia/Tokyo")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
YEAR_END = ((12, 29), (12, 30), (12, 31), (1, 1), (1, 2), (1, 3))  # 年末年始
SEARCH_DAYS = 400  # longer than any year-end + holiday run; bounds next_open on odd configs


class ConfigError(ValueError):
    """A staff-hours setting that cannot work; the message is one line naming the setting."""


@dataclass(frozen=True)
class OfficeHours:
    opens: time = time(9, 0)
    closes: time = time(18, 0)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday=0
    closed_dates: tuple[tuple[int, int], ...] = YEAR_END  # (month, day), every year
    public_holidays: bool = True  # closed on Japanese public holidays
    tz: ZoneInfo = JST

    def __post_init__(self) -> None:
        if not self.opens < self.closes:
            raise ConfigError(f"opens {self.opens} must be before closes {self.closes}")
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ConfigError(f"weekdays must be a non-empty subset of 0-6: {set(self.weekdays)}")
        for month, day in self.closed_dates:
            try:
                date(2000, month, day)  # a leap year, so 02-29 is allowed
            except (TypeError, ValueError):
                raise ConfigError(f"closed date {(month, day)} is not a day of the year") from None
        if len(set(self.closed_dates)) >= 366:
            raise ConfigError("closed_dates closes every day of the year")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OfficeHours:
        """Read the QUOTEBOT_STAFF_* variables; absent or blank ones keep the default."""
        kwargs: dict[str, object] = {}
        if raw := env.get("QUOTEBOT_STAFF_HOURS", "").strip():
            kwargs["opens"], kwargs["closes"] = _parse_hours(raw)
        if raw := env.get("QUOTEBOT_STAFF_DAYS", "").strip():
            kwargs["weekdays"] = _parse_days(raw)
        if raw := env.get("QUOTEBOT_STAFF_CLOSED", "").strip():
            kwargs["closed_dates"] = () if raw.lower() == "none" else _parse_closed(raw)
        if raw := env.get("QUOTEBOT_STAFF_HOLIDAYS", "").strip():
            if raw.lower() not in ("jp", "none"):
                _bad("QUOTEBOT_STAFF_HOLIDAYS", raw, "jp or none")
            kwargs["public_holidays"] = raw.lower() == "jp"
        return cls(**kwargs)


def is_open(hours: OfficeHours, now: datetime) -> bool:
    """True when staff are on duty at `now` (an aware datetime)."""
    return closed_reason(hours, now) is None


def closed_reason(hours: OfficeHours, now: datetime) -> str | None:
    """None when open, else a code for the template: year_end, weekend, public_holiday,
    before_hours or after_hours (the first that applies, in that order)."""
    local = _local(hours, now)
    if reason := _day_closed(hours, local.date()):
        return reason
    if local.time() < hours.opens:
        return "before_hours"
    if local.time() >= hours.closes:
        return "after_hours"
    return None


def next_open(hours: OfficeHours, now: datetime) -> datetime:
    """The next moment staff come on duty, in hours.tz; `now` itself when already open."""
    local = _local(hours, now)
    reason = closed_reason(hours, local)
    if reason is None:
        return local
    day = local.date() if reason == "before_hours" else local.date() + timedelta(days=1)
    for _ in range(SEARCH_DAYS):
        if _day_closed(hours, day) is None:
            return datetime.combine(day, hours.opens, tzinfo=hours.tz)
        day += timedelta(days=1)
    raise ConfigError(f"staff hours have no opening within {SEARCH_DAYS} days of {local}")


def _day_closed(hours: OfficeHours, day: date) -> str | None:
    if (day.month, day.day) in hours.closed_dates:
        return "year_end"
    if day.weekday() not in hours.weekdays:
        return "weekend"
    if hours.public_holidays and day in _jp_holidays(day.year):
        return "public_holiday"
    return None


@lru_cache(maxsize=16)
def _jp_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("JP", years=year))


def _local(hours: OfficeHours, now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    return now.astimezone(hours.tz)


def _parse_hours(raw: str) -> tuple[time, time]:
    m = re.fullmatch(r"(\d{1,2}):(\d\d)\s*-\s*(\d{1,2}):(\d\d)", raw)
    if m is None:
        _bad("QUOTEBOT_STAFF_HOURS", raw, "HH:MM-HH:MM")
    try:
        opens, closes = time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4]))
    except ValueError:
        _bad("QUOTEBOT_STAFF_HOURS", raw, "times from 00:00 to 23:59")
    if not opens < closes:
        _bad("QUOTEBOT_STAFF_HOURS", raw, "opening time before closing time")
    return opens, closes


def _parse_days(raw: str) -> frozenset[int]:
    days: set[int] = set()
    for part in raw.lower().replace(" ", "").split(","):
        first, dash, last = part.partition("-")
        last = last if dash else first
        if not {first, last} <= set(DAY_NAMES) or DAY_NAMES.index(first) > DAY_NAMES.index(last):
            _bad("QUOTEBOT_STAFF_DAYS", raw, "day names like mon,wed or a range like mon-fri")
        days.update(range(DAY_NAMES.index(first), DAY_NAMES.index(last) + 1))
    return frozenset(days)


def _parse_closed(raw: str) -> tuple[tuple[int, int], ...]:
    dates = []
    for part in raw.replace(" ", "").split(","):
        try:
            day = datetime.strptime(f"2000-{part}", "%Y-%m-%d")  # leap year: 02-29 is fine
        except ValueError:
            _bad("QUOTEBOT_STAFF_CLOSED", raw, "MM-DD dates like 12-29,01-03, or none")
        dates.append((day.month, day.day))
    return tuple(dates)


def _bad(var: str, raw: str, expected: str) -> NoReturn:
    raise ConfigError(f"{var}={raw!r} is invalid: expected {expected}")
