"""Pure date rules of the incident dialog: deadlines, the checklist and reminder times.

Responsibility: from the triage answers and the determinations, compute the dates a merchant
must meet and an urgency-ordered checklist. No clock: callers pass `today` / `now`.

DAY COUNTING (hedged: 初日不算入 or not is [UNVERIFIED], domain.md §2.2, so we compute
conservatively). Every "within N days of knowing" deadline counts the JST calendar date of
discovery as day 1: due = discovery date + (N - 1) days. Discovered 2026-11-22 at any time →
30-day final report due 2026-12-21, 60-day 2027-01-20, 3–5-day preliminary window
2026-11-24 … 2026-11-26. Weekends and holidays are not skipped (not verified either).
The insurer's 180-day expense window is different: the seed itself counts from the day after
the insurer received notice [SEED:000], so it ends on notice date + 180 days.
The 30- and 60-day periods themselves are law (規則8条2項) and shown as such; only the day
count and the 3–5-day practice window are hedged (`Deadlines.codes` names why). A date already
behind `today` is flagged as passed, and its report is due now (reminders start from now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from dialogs.incident_rules import (
    JST,
    IncidentFacts,
    MyNumberDetermination,
    PpcDetermination,
    is_card_case,
    mynumber_determination,
)

DEADLINE_CODES = (
    "day_count_discovery_is_day_1_hedged",
    "prelim_3_to_5_days_hedged",
    "final_60_improper_purpose",
    "final_30",
    "final_30_or_60_case3_unknown",
    "prelim_passed_file_now",
    "final_passed_file_now",
    "final_30_passed_60_open",
    "insurer_notice_assumed_today_hedged",
    "notify_individuals_promptly",
    "insurer_notice_now",
    "expense_window_180_days_hedged",
    "expense_window_check_policy_hedged",
)
# Checklist ids in urgency order: "now" actions, then dated items by date, then ongoing ones.
CHECKLIST_IDS = (
    "card_tell_psp",
    "card_stop_checkout",
    "call_insurer",
    "check_insurance",
    "consult_incident_desk",
    "tell_client_promptly",
    "police_consult",
    "police_lost_or_theft_report",
    "ipa_consult",
    "contractor_report_in_writing",
    "card_pfi",
    "ppc_prelim",
    "ppc_form_q1_mynumber_yes",
    "notify_individuals",
    "publication",
    "ppc_final",
    "expense_window_end",
    "check_policy_expense_window",
    "keep_receipts",
)
REMINDED_IDS = frozenset({"ppc_prelim", "ppc_final"})
REMINDER_HOUR = time(9, 0)


def nth_day(day1: date, n: int) -> date:
    """Return the n-th day of a period whose day 1 is `day1`."""
    return day1 + timedelta(days=n - 1)


def _check_date(name: str, value: object) -> None:
    # datetime is a subclass of date: reject it so a time zone can't be silently dropped.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime.date")


def _report_needed(det: PpcDetermination, mn: MyNumberDetermination | None) -> bool:
    return det.status != "not_required" or (mn is not None and mn.status != "not_required")


@dataclass(frozen=True)
class Deadlines:
    """Dates and timing codes; PPC fields are None when no report is required or advised.

    `*_passed` say a date is already behind `today`: the template says so, and the checklist
    asks for that report now (速報 is 「速やかに」: lateness does not remove the duty)."""

    discovered_on: date
    prelim_from: date | None  # 速報 practice window 概ね3～5日 [PUB], day 3 …
    prelim_to: date | None  # … day 5
    final_due: date | None  # 確報: the legal date (day 60 when case 3 is certain, else day 30)
    final_due_alt: date | None  # day 60 when it is unknown whether case 3 applies
    notify_individuals: str | None  # "notify_individuals_promptly" (速やかに, no date)
    insurer_notice: str | None  # "insurer_notice_now" (遅滞なく); None without insurer
    expense_window: str | None  # "expense_window_180_days_hedged" / "..._check_policy_hedged"
    expense_window_start: date | None  # rakuten_group only
    expense_window_end: date | None
    codes: tuple[str, ...]  # DEADLINE_CODES explaining the dates
    today: date | None = None
    prelim_passed: bool = False
    final_passed: bool = False
    final_alt_passed: bool = False


def _improper_purpose(det: PpcDetermination, mn: MyNumberDetermination | None) -> tuple[bool, bool]:
    """Whether 規則7条3号 (or 番号法 規則2条2号) applies for sure, and whether it only may."""
    sure = "improper_purpose" in det.cases or (mn is not None and "mn_improper_purpose" in mn.reasons)
    maybe = "improper_purpose" in det.uncertain or (
        mn is not None and "mn_improper_purpose_unclear" in mn.reasons
    )
    return sure, maybe and not sure


def deadlines(
    facts: IncidentFacts,
    det: PpcDetermination,
    *,
    insurer_notified_on: date | None = None,
    today: date,
) -> Deadlines:
    """Compute PPC and insurer dates for an incident (see the module docstring for counting)."""
    _check_date("today", today)
    if insurer_notified_on is not None:
        _check_date("insurer_notified_on", insurer_notified_on)
    d = facts.discovered_on
    if today < d:
        raise ValueError("today is before the discovery date")
    mn = mynumber_determination(facts)
    codes: list[str] = []
    prelim_from = prelim_to = final_due = final_alt = None
    individuals = None
    passed = {"prelim": False, "final": False, "alt": False}
    if _report_needed(det, mn):
        codes += ["day_count_discovery_is_day_1_hedged", "prelim_3_to_5_days_hedged"]
        # [PUB] 速報 「速やかに」, practice 概ね3～5日 [businesslawyers 1433; g-houmu].
        prelim_from, prelim_to = nth_day(d, 3), nth_day(d, 5)
        # [LAW] 規則8条2項: 確報 30日以内; 60日以内 whenever the case is one of 7条3号, whether or
        # not another case applies too (番号法 規則 the same for 2条2号). Both dates only when it
        # is unknown whether case 3 applies.
        improper_sure, improper_maybe = _improper_purpose(det, mn)
        if improper_sure:
            final_due = nth_day(d, 60)
            codes.append("final_60_improper_purpose")
        elif improper_maybe:
            final_due, final_alt = nth_day(d, 30), nth_day(d, 60)
            codes.append("final_30_or_60_case3_unknown")
        else:
            final_due = nth_day(d, 30)
            codes.append("final_30")
        passed = {
            "prelim": today > prelim_to,
            "final": today > final_due,
            "alt": final_alt is not None and today > final_alt,
        }
        if passed["prelim"]:
            codes.append("prelim_passed_file_now")  # [LAW 規則8条1項] 速やかに: file now
        if passed["final"] and final_alt is not None and not passed["alt"]:
            codes.append("final_30_passed_60_open")
        elif passed["final"]:
            codes.append("final_passed_file_now")
        individuals = "notify_individuals_promptly"  # [LAW 法26条2項; 番号法29条の4]

    insurer_notice = expense = start = end = None
    if facts.insurance != "none":
        insurer_notice = "insurer_notice_now"  # [PUB policy wording 第26条: 遅滞なく]
        expense = "expense_window_check_policy_hedged"
    if facts.insurance == "rakuten_group":
        # [SEED:000] costs from the day the insured learned of it until 180 days counted from
        # the day after the insurer received notice; day-count [UNVERIFIED] (4/3 → 9/30).
        notice = insurer_notified_on if insurer_notified_on is not None else today
        if notice < d:
            raise ValueError("insurer_notified_on is before the discovery date")
        if insurer_notified_on is None:
            codes.append("insurer_notice_assumed_today_hedged")
        expense = "expense_window_180_days_hedged"
        start, end = d, notice + timedelta(days=180)
    return Deadlines(
        discovered_on=d,
        prelim_from=prelim_from,
        prelim_to=prelim_to,
        final_due=final_due,
        final_due_alt=final_alt,
        notify_individuals=individuals,
        insurer_notice=insurer_notice,
        expense_window=expense,
        expense_window_start=start,
        expense_window_end=end,
        codes=tuple(codes),
        today=today,
        prelim_passed=passed["prelim"],
        final_passed=passed["final"],
        final_alt_passed=passed["alt"],
    )


@dataclass(frozen=True)
class ChecklistItem:
    """One task for the merchant; `due` None means now/ongoing (order gives the urgency).
    `overdue`: the due date is already behind today — do it now; reminders start from now."""

    id: str  # CHECKLIST_IDS, stable
    due: date | None
    hedged: bool
    overdue: bool = False


# Items whose words already hold another item: the incident-desk item names IPA's desk too.
_SAYS_ALSO: dict[str, tuple[str, ...]] = {"consult_incident_desk": ("ipa_consult",)}


def checklist(
    facts: IncidentFacts,
    det: PpcDetermination,
    dl: Deadlines,
    mynumber: MyNumberDetermination | None,
) -> tuple[ChecklistItem, ...]:
    """Build the merchant's task list, ordered by urgency (the order of CHECKLIST_IDS)."""
    items: list[ChecklistItem] = []

    def add(item_id: str, due: date | None = None, hedged: bool = False, overdue: bool = False) -> None:
        said = {i.id for i in items}
        said |= {inner for i in items for inner in _SAYS_ALSO.get(i.id, ())}
        if item_id not in said:  # each task once, the first wording kept
            items.append(ChecklistItem(item_id, due, hedged, overdue))

    kind, insurance = facts.kind, facts.insurance
    card = is_card_case(facts)
    if card:  # §5 [PUB]: acquirer/PSP first, stop card handling
        add("card_tell_psp")
        add("card_stop_checkout")
    if insurance in ("rakuten_group", "sompo", "other"):
        add("call_insurer")  # §4.4 [SEED:000; PUB]
    elif insurance == "unknown":
        add("check_insurance")
    else:
        add("consult_incident_desk")  # [SEED:001] LAC; [PUB] IPA
    if facts.contractor == "we_are_contractor":
        add("tell_client_promptly")  # [LAW 規則9条] 速やかに, the same items
    if kind in ("ransomware", "unauthorized_access", "card_leak", "insider"):
        add("police_consult")  # [PUB IPA step 2: 犯罪性 → 警察]
    if kind == "lost_device":
        add("police_lost_or_theft_report")
    if kind in ("ransomware", "unauthorized_access", "card_leak"):
        add("ipa_consult")  # [PUB IPA step 2: ウイルス・不正アクセス → IPA]
    if facts.contractor in ("yes", "unknown"):
        add("contractor_report_in_writing")  # [LAW 規則9条]
    if card:
        add("card_pfi")  # [PUB pcf.co.jp]
    if _report_needed(det, mynumber):
        if dl.prelim_to is None or dl.final_due is None:
            raise ValueError("deadlines do not match the determinations")
        add("ppc_prelim", dl.prelim_to, hedged=True, overdue=dl.prelim_passed)
        if mynumber is not None or "unknown" in facts.data:
            add("ppc_form_q1_mynumber_yes")  # [PUB ppc leakAction]
        add("notify_individuals")  # [LAW 法26条2項] 速やかに
    if insurance == "rakuten_group":
        add("publication", hedged=True)  # [SEED:000] 公表要件; web form = 文書 [UNVERIFIED]
    if _report_needed(det, mynumber):
        add("ppc_final", dl.final_due, hedged=True, overdue=dl.final_passed)
    if dl.expense_window_end is not None:
        add("expense_window_end", dl.expense_window_end, hedged=True)
    elif insurance != "none":
        add("check_policy_expense_window", hedged=True)
    if insurance != "none":
        add("keep_receipts")  # [PUB MS claim documents]
    return tuple(items)


def reminder_times(item: ChecklistItem, *, now: datetime) -> tuple[datetime, ...]:
    """Return 09:00 JST the day before and on the due date, dropping times before `now`.

    An item already overdue is reminded from now on instead: at the next two 09:00 JST."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if item.id not in REMINDED_IDS or item.due is None:
        return ()
    local = now.astimezone(JST)
    if item.overdue or item.due < local.date():
        first = datetime.combine(local.date(), REMINDER_HOUR, tzinfo=JST)
        if first < now:
            first += timedelta(days=1)
        return (first, first + timedelta(days=1))
    times = (
        datetime.combine(item.due - timedelta(days=1), REMINDER_HOUR, tzinfo=JST),
        datetime.combine(item.due, REMINDER_HOUR, tzinfo=JST),
    )
    return tuple(t for t in times if t >= now)
