"""Read when something happened, as a person types it, relative to an injected "now" (JST).

Accepts dates and times in Japanese and English: "11/20 14:30", "2026-11-20", "11月20日 14時",
"午後2時", "昨日の夜9時", "今朝", "3時間前", "2 days ago", "yesterday 9pm". Times in the future
and dates more than three years back are refused; anything else unread is refused too.

A date typed without a year is this year's, unless that is still to come: then it is last
year's, and `When.year_guessed` says so, so that the caller confirms it with the full date
("12/25" typed on 2 December 2026 is 25 December 2025 only once the user says so).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from dialogs.steps import Invalid

MAX_AGE = timedelta(days=3 * 366)
MAX_CHARS = 60

_DAY_WORDS = {
    "今日": 0, "本日": 0, "today": 0, "今朝": 0, "けさ": 0,
    "昨日": 1, "きのう": 1, "昨夜": 1, "yesterday": 1,
    "一昨日": 2, "おととい": 2,
}  # fmt: skip
_AGO = re.compile(r"(\d+)\s*(分|時間|日|minutes?|mins?|hours?|hrs?|days?)\s*(前|ago)")
_YMD = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")
_MD = re.compile(r"(\d{1,2})[/月](\d{1,2})日?")
_HM = re.compile(r"(\d{1,2})(?::(\d{2})|時(?:(\d{1,2})分|半)?)")
_EN_TIME = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)")
_PM_WORDS = ("午後", "夜", "夕方", "晩", "pm")
_AM_WORDS = ("午前", "朝", "am")
_FILLER = re.compile(r"(?:\s|、|,|。|\.|の|頃|ごろ|くらい|ぐらい|前後|に|\bat\b|\baround\b|\bon\b)+")


@dataclass(frozen=True)
class When:
    """What a typed answer means: the moment, whether it names a time of day ("11/20" does
    not), and whether the year was guessed (a yearless date that this year is still to come)."""

    moment: datetime
    has_time: bool
    year_guessed: bool = False


def parse_when(text: str, now: datetime) -> datetime:
    """The moment meant by `text` (aware, in now's time zone), or raise Invalid."""
    return read_when(text, now)[0]


def read_when(text: str, now: datetime) -> tuple[datetime, bool]:
    """The moment meant by `text`, and whether it names a time of day ("11/20" does not)."""
    when = read(text, now)
    return when.moment, when.has_time


def read(text: str, now: datetime) -> When:
    """The moment meant by `text`, whether it names a time of day, whether the year was guessed."""
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    if not folded:
        raise Invalid("empty")
    if len(folded) > MAX_CHARS:
        raise Invalid("too_long")
    rest = folded
    ago = _AGO.search(rest)
    if ago:
        amount, unit = int(ago.group(1)), ago.group(2)
        rest = rest.replace(ago.group(0), " ")
        _nothing_left(rest, text)
        try:
            return When(_check(now - _span(amount, unit), now), not unit.startswith(("日", "d")))
        except OverflowError:  # "1000000日前": before year 1, so certainly too old
            raise Invalid("too_old") from None

    day, guessed, rest = _read_day(rest, now)
    moment, rest = _read_time(rest)
    _nothing_left(rest, text)
    if day is None and moment is None:
        raise Invalid("unrecognized", fragment=text.strip()[:40])
    day = day or now.date()
    if moment is None:
        # A day without a time: the start of that day, or now if it is today (the later, safer).
        result = now if day == now.date() else datetime.combine(day, time(0, 0), now.tzinfo)
    else:
        result = datetime.combine(day, moment, now.tzinfo)
    return When(_check(result, now), moment is not None, guessed)


def _span(amount: int, unit: str) -> timedelta:
    if unit in ("分",) or unit.startswith("min"):
        return timedelta(minutes=amount)
    if unit in ("時間",) or unit.startswith("h"):
        return timedelta(hours=amount)
    return timedelta(days=amount)


def _read_day(rest: str, now: datetime) -> tuple[date | None, bool, str]:
    for word, back in sorted(_DAY_WORDS.items(), key=lambda kv: -len(kv[0])):
        if word in rest:
            return now.date() - timedelta(days=back), False, rest.replace(word, " ", 1)
    full = _YMD.search(rest)
    if full:
        day = _date(int(full.group(1)), int(full.group(2)), int(full.group(3)))
        return day, False, rest.replace(full.group(0), " ", 1)
    short = _MD.search(rest)
    if short:
        month, dom = int(short.group(1)), int(short.group(2))
        day = _date(now.year, month, dom)
        guessed = day > now.date()
        if guessed:  # "12/30" typed in January means last December — confirmed by the caller
            day = _date(now.year - 1, month, dom)
        return day, guessed, rest.replace(short.group(0), " ", 1)
    return None, False, rest


def _read_time(rest: str) -> tuple[time | None, str]:
    english = _EN_TIME.search(rest)
    if english:
        hour, minute = int(english.group(1)), int(english.group(2) or 0)
        if not 1 <= hour <= 12:
            raise Invalid("unrecognized", fragment=english.group(0))
        hour = hour % 12 + (12 if english.group(3) == "pm" else 0)
        return _time(hour, minute), rest.replace(english.group(0), " ", 1)
    found = _HM.search(rest)
    if not found:
        return None, rest
    hour = int(found.group(1))
    minute = int(found.group(2) or found.group(3) or (30 if "半" in found.group(0) else 0))
    before = rest[: found.start()]
    if any(w in before for w in _PM_WORDS) and hour < 12:
        hour += 12
    rest = rest.replace(found.group(0), " ", 1)
    for word in (*_PM_WORDS, *_AM_WORDS):
        rest = rest.replace(word, " ")
    return _time(hour, minute), rest


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise Invalid("bad_date", fragment=f"{year}-{month}-{day}") from None


def _time(hour: int, minute: int) -> time:
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise Invalid("bad_time", fragment=f"{hour}:{minute:02d}")
    return time(hour, minute)


def _nothing_left(rest: str, text: str) -> None:
    """Anything but filler words left over means we did not understand the whole answer."""
    leftover = rest
    for word in (*_PM_WORDS, *_AM_WORDS):
        leftover = leftover.replace(word, " ")
    if _FILLER.sub("", leftover):
        raise Invalid("unrecognized", fragment=text.strip()[:40])


def _check(moment: datetime, now: datetime) -> datetime:
    if moment > now + timedelta(minutes=1):
        raise Invalid("future")
    if now - moment > MAX_AGE:
        raise Invalid("too_old")
    return min(moment, now)  # within the tolerance: a clock a little ahead means now
