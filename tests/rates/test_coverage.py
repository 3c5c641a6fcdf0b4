"""Rakuten group plan cover: starts after the 15th-of-month cut-off, ends on the next 1 August."""

from datetime import date

import pytest

from rates.coverage import coverage_period, rakuten_group_period

CASES = [
    # applied on,         cover starts,  cover ends,    months
    (date(2026, 11, 15), "2026-12-01", "2027-08-01", 8),
    (date(2026, 11, 16), "2027-01-01", "2027-08-01", 7),
    (date(2026, 11, 30), "2027-01-01", "2027-08-01", 7),
    (date(2026, 12, 1), "2027-01-01", "2027-08-01", 7),
    (date(2026, 12, 15), "2027-01-01", "2027-08-01", 7),
    (date(2026, 12, 16), "2027-02-01", "2027-08-01", 6),
    (date(2026, 12, 31), "2027-02-01", "2027-08-01", 6),
    (date(2027, 6, 15), "2027-07-01", "2027-08-01", 1),
    (date(2027, 6, 16), "2027-08-01", "2028-08-01", 12),
    (date(2027, 7, 1), "2027-08-01", "2028-08-01", 12),
    (date(2027, 7, 15), "2027-08-01", "2028-08-01", 12),
    (date(2027, 7, 16), "2027-09-01", "2028-08-01", 11),
    (date(2027, 8, 1), "2027-09-01", "2028-08-01", 11),
    (date(2028, 2, 29), "2028-04-01", "2028-08-01", 4),
]


@pytest.mark.parametrize(("applied", "start", "end", "months"), CASES)
def test_coverage_rakuten_dates(applied, start, end, months):
    """Cover starts at 16:00 JST on the hand-computed 1st and ends on the next 1 August."""
    period = rakuten_group_period(applied)
    assert period.start.isoformat() == f"{start}T16:00:00+09:00"
    assert period.end.isoformat() == f"{end}T16:00:00+09:00"
    assert period.months == months


def test_coverage_unknown_rule_has_no_dates():
    """A table whose seed gives no start rule gets no coverage dates."""
    assert coverage_period("none", date(2026, 11, 22)) is None
