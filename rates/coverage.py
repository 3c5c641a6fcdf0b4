"""When cover starts and ends, from the day the application is completed (pure date arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")
# Japanese non-life policies start and end at 16:00 (午後4時). Seed 000 states 16:00 for the
# start; for the end it gives only the date, so templates hedge the end time.
POLICY_HOUR = time(16, 0)
APPLICATION_CUTOFF_DAY = 15  # "当月15日までにお申込手続を完了した場合: 翌月1日16時より補償開始"
RENEWAL_MONTH = 8  # "補償終了日は、補償開始日から次に迎える8月1日まで"


@dataclass(frozen=True)
class CoveragePeriod:
    start: datetime
    end: datetime
    months: int


def _first_of_month_after(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def rakuten_group_period(applied_on: date) -> CoveragePeriod:
    """Seed 000: start on the 1st after the 15th-of-month cut-off; end on the next 1 August."""
    months_ahead = 1 if applied_on.day <= APPLICATION_CUTOFF_DAY else 2
    start = _first_of_month_after(applied_on, months_ahead)
    end_year = start.year if start.month < RENEWAL_MONTH else start.year + 1
    end = date(end_year, RENEWAL_MONTH, 1)
    months = (end.year - start.year) * 12 + (end.month - start.month)
    return CoveragePeriod(
        start=datetime.combine(start, POLICY_HOUR, JST),
        end=datetime.combine(end, POLICY_HOUR, JST),
        months=months,
    )


PERIOD_RULES = {"rakuten_group": rakuten_group_period}


def coverage_period(rule: str, applied_on: date) -> CoveragePeriod | None:
    """The period for a table's coverage rule, or None when its seed states no start rule."""
    compute = PERIOD_RULES.get(rule)
    return compute(applied_on) if compute else None
