"""Pure rules of the incident dialog: what the triage answers mean for reporting.

Responsibility: turn an `IncidentFacts` (the triage answers) into determinations — must the
merchant report to the PPC (個人情報保護委員会) under APPI, does the My Number rule apply — and
lay out the Commission's report items 1–9. No I/O, no clock, stdlib only. Dates, checklist and
reminders live in `dialogs.incident_dates`; first-aid, per-kind and insurer advice in
`dialogs.incident_steps`.

Outputs are machine CODES (short snake_case strings); templates turn them into words.
Source tags in comments refer to shared/domain.md ([LAW], [PUB], [SEED:n], [UNVERIFIED]).

HEDGING — one rule: a code that rests on an [UNVERIFIED] fact, or on a convention this module
chose where the sources are silent, ends in ``_hedged`` (see `is_hedged`); its template must
hedge (目安 / ご確認ください). What the law text decides is stated plainly: the four cases, the
30/60-day periods, the My Number rule in force from 2025-04-01, the contractor's release.
Dates have no code of their own, so the record that carries a date says it instead:
`ChecklistItem.hedged`; the day count of every date in `Deadlines` is hedged (初日不算入 is
unverified) — `Deadlines.codes` names why.

ENCRYPTION (規則7条1号, domain.md §2.1 2026-12): the carve-out protects only data nobody can
read, so it is applied only to a lost device or a mis-sent file, on conditions the verdict
lists; an attack, ransomware, insider or card case is never "not required" on "encrypted: yes".

UNKNOWN ANSWERS are conservative: a case that might apply because an answer is "unknown" goes
to `uncertain`, and any uncertain case makes the status "advised" (report, and say why).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")

KINDS = (
    "unauthorized_access",
    "ransomware",
    "card_leak",
    "missent",
    "lost_device",
    "insider",
    "other",
)
DATA = (
    "names_contacts",
    "card_numbers",
    "card_last4_expiry",  # the last four digits with the expiry only (not case 2, PPC FAQ Q6-12)
    "account_passwords",  # net-banking and payment logins (case 2)
    "other_logins",  # any other site login (not case 2 by itself)
    "my_number",
    "sensitive",
    "trade_secrets",
    "unknown",
)
PEOPLE = ("up_to_100", "101_to_1000", "over_1000", "unknown")
TRISTATE = ("yes", "no", "unknown")
# "yes": a contractor of ours (payment provider, cart/SaaS vendor, carrier) is involved;
# "we_are_contractor": we handle the data for a client (委託元) and the leak is on our side.
CONTRACTOR = ("yes", "we_are_contractor", "no", "unknown")
INSURANCE = ("rakuten_group", "sompo", "other", "none", "unknown")

STATUSES = ("required", "advised", "not_required")
CASES = ("sensitive", "financial_loss", "improper_purpose", "over_1000")  # 規則7条1号〜4号

HEDGE_SUFFIX = "_hedged"

# Every reason code `ppc_determination` can return (for the template writer and a test).
# Every reason code `ppc_determination` can return (for the template writer and a test).
PPC_REASONS = (
    "no_personal_data",
    "personal_data_unknown",
    "data_unknown",
    "people_unknown",
    "card_leak_treated_as_attack",
    "card_numbers_taken_by_attack",
    "theft_or_loss_unknown",
    "other_kind_purpose_unclear",
    "encryption_unknown_treated_as_not",
    "encryption_intruder_may_reach_key_hedged",
    "encryption_skimming_before_encryption_hedged",
    "encryption_ransomware_loss_hedged",
    "encryption_kind_unclear_hedged",
    "encryption_exempt_if_conditions_hedged",
    "we_are_contractor_released_if_client_told",
    "form_q1_mynumber_yes_if_unsure",
    "individual_notice_recommended",
)
# What a "not required" verdict rests on, listed as conditions the merchant can check
# (never as reasons a report is needed).
CONDITIONS = (
    "cond_no_personal_data",
    "cond_no_sensitive",
    "cond_no_financial",
    "cond_no_improper_purpose",
    "cond_not_over_1000",
    "cond_all_strongly_encrypted",
    "cond_key_kept_apart_not_leaked",
    "cond_missent_key_not_sent_along",
    "cond_lost_key_not_with_device",
    "cond_mn_not_over_100",
    "cond_mn_not_exposed_online",
)
MN_REASONS = (
    "mn_improper_purpose",
    "mn_over_100_people",
    "mn_improper_purpose_unclear",
    "mn_people_unknown",
    "mn_report_if_exposed_online",
    "mn_encryption_not_relied_on_hedged",
    "mn_encryption_exempt_if_conditions_hedged",
)
MN_ADVICE = (
    "mn_form_q1_answer_yes",
    "mn_municipality_number_change",
    "mn_deadlines_like_appi",
)
# How and where to file (shown whenever a report is required or advised).
FILING = ("ppc_online_form", "ppc_delegated_ministry")
REPORT_KEYS = (
    "overview",
    "data_items",
    "people_count",
    "cause",
    "secondary_damage",
    "response_to_individuals",
    "publication",
    "prevention",
    "other",
)

# Personal data (個人データ) among the DATA answers; trade secrets alone are not.
_PERSONAL = frozenset(DATA) - {"trade_secrets", "unknown"}
# 規則7条2号: data whose misuse can cause financial harm — a card number (alone counts), net-
# banking and payment logins. Not: the last four digits with the expiry (PPC FAQ Q6-12), nor an
# ordinary site login by itself. [LAW; PUB businesslawyers 1433; PPC FAQ Q6-12]
FINANCIAL_DATA = frozenset({"card_numbers", "account_passwords"})
# 規則7条3号: acts with improper purpose — unauthorized access, ransomware, card skimming or
# hacking, an employee taking data out. [LAW; PUB businesslawyers 1433]
ATTACK_KINDS = frozenset({"unauthorized_access", "ransomware", "card_leak", "insider"})
# Theft or loss of a device is not known at triage; "other" is unclassified, so an attack
# cannot be excluded either. Both make case 3 uncertain.
MAYBE_ATTACK_KINDS = frozenset({"lost_device", "other"})
# The encryption carve-out (規則7条1号, "高度な暗号化") protects only data nobody can read: it may
# apply to a lost device or a mis-sent file with the key kept apart, never to an attack where
# the key is reachable, data is skimmed before it is encrypted, or data is lost or corrupted
# (滅失・毀損). [LAW + PUB, domain.md §2.1 2026-12]
EXEMPTION_MAY_APPLY_KINDS = frozenset({"lost_device", "missent"})
_ENCRYPTION_NOT_RELIED = {
    "unauthorized_access": "encryption_intruder_may_reach_key_hedged",
    "insider": "encryption_intruder_may_reach_key_hedged",
    "card_leak": "encryption_skimming_before_encryption_hedged",
    "ransomware": "encryption_ransomware_loss_hedged",
    "other": "encryption_kind_unclear_hedged",
}


def is_hedged(code: str) -> bool:
    """Tell whether the template for this code must hedge."""
    return code.endswith(HEDGE_SUFFIX)


def _check(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {allowed}")


@dataclass(frozen=True)
class IncidentFacts:
    """The triage answers; validated on construction, discovered_at normalised to JST."""

    kind: str
    discovered_at: datetime  # when anyone in the company first learned of it
    data: frozenset[str]
    people: str
    encrypted: str  # strong encryption (高度な暗号化) of ALL the leaked data
    contractor: str  # CONTRACTOR: whose contractor is involved, if any
    insurance: str

    def __post_init__(self) -> None:
        _check("kind", self.kind, KINDS)
        _check("people", self.people, PEOPLE)
        _check("encrypted", self.encrypted, TRISTATE)
        _check("contractor", self.contractor, CONTRACTOR)
        _check("insurance", self.insurance, INSURANCE)
        if not isinstance(self.discovered_at, datetime):
            raise TypeError("discovered_at must be a datetime")
        if self.discovered_at.utcoffset() is None:
            raise ValueError("discovered_at must be timezone-aware")
        # The JST calendar date is what counts, whatever zone the caller used.
        object.__setattr__(self, "discovered_at", self.discovered_at.astimezone(JST))
        if isinstance(self.data, str):
            raise TypeError("data must be a set of codes, not a string")
        data = frozenset(self.data)
        if not data:
            raise ValueError("data needs at least one code (answer 'unknown' if unsure)")
        for code in sorted(data):
            _check("data", code, DATA)
        object.__setattr__(self, "data", data)

    @property
    def discovered_on(self) -> date:
        """The JST calendar date of discovery (day 1 of every deadline)."""
        return self.discovered_at.date()


def is_card_case(facts: IncidentFacts) -> bool:
    """A card leak, or an attack that took card numbers: it gets the card-specific steps."""
    return facts.kind == "card_leak" or ("card_numbers" in facts.data and facts.kind in ATTACK_KINDS)


@dataclass(frozen=True)
class PpcDetermination:
    """Whether to report to the PPC. `cases`/`uncertain` describe the facts before the
    encryption exemption; `exempt_by_encryption` is True only when it removed a case.
    `conditions` (only with "not_required") are what that verdict rests on."""

    status: str  # one of STATUSES
    cases: tuple[str, ...]  # CASES that apply for sure
    uncertain: tuple[str, ...]  # CASES that might apply because of an "unknown"/unclear answer
    exempt_by_encryption: bool
    reasons: tuple[str, ...]  # PPC_REASONS
    conditions: tuple[str, ...] = ()  # CONDITIONS


def _exemption_conditions(kind: str) -> tuple[str, ...]:
    extra = {"missent": "cond_missent_key_not_sent_along", "lost_device": "cond_lost_key_not_with_device"}
    return ("cond_all_strongly_encrypted", "cond_key_kept_apart_not_leaked", extra[kind])


def ppc_determination(facts: IncidentFacts) -> PpcDetermination:
    """Apply 法26条1項 / 規則7条 to the triage answers, conservatively for unknowns."""
    data, kind = facts.data, facts.kind
    maybe_data = "unknown" in data
    # A card leak is card data by definition, even if the data answer left it out.
    personal_sure = bool(data & _PERSONAL) or kind == "card_leak"
    if not personal_sure and not maybe_data:
        return PpcDetermination(
            "not_required", (), (), False, ("no_personal_data",), ("cond_no_personal_data",)
        )

    sure: set[str] = set()
    maybe: set[str] = set()
    reasons: list[str] = []
    if not personal_sure:
        reasons.append("personal_data_unknown")
    elif maybe_data:
        reasons.append("data_unknown")
    # [LAW] 規則7条1号: 要配慮個人情報 — any number of people.
    if "sensitive" in data:
        sure.add("sensitive")
    elif maybe_data:
        maybe.add("sensitive")
    # [LAW] 規則7条2号: 財産的被害のおそれ — card numbers, net-banking/payment credentials.
    if data & FINANCIAL_DATA or kind == "card_leak":
        sure.add("financial_loss")
    elif maybe_data:
        maybe.add("financial_loss")
    # [LAW] 規則7条3号: 不正の目的 — any number; since 2024-04 incl. data being acquired
    # (web skimming). card_leak is treated as skimming/hacking. [LAW; PUB mclaw, azx]
    if kind in ATTACK_KINDS:
        sure.add("improper_purpose")
        if kind == "card_leak":
            reasons.append("card_leak_treated_as_attack")
        elif "card_numbers" in data:
            reasons.append("card_numbers_taken_by_attack")
    elif kind in MAYBE_ATTACK_KINDS:
        maybe.add("improper_purpose")
        reasons.append("theft_or_loss_unknown" if kind == "lost_device" else "other_kind_purpose_unclear")
    # [LAW] 規則7条4号: 本人の数が千人を超える (≥1,001).
    if facts.people == "over_1000":
        sure.add("over_1000")
    elif facts.people == "unknown":
        maybe.add("over_1000")
        reasons.append("people_unknown")
    if not personal_sure:  # no case is sure while personal data itself is only possible
        maybe |= sure
        sure = set()
    maybe -= sure

    exempt = False
    if sure or maybe:
        if facts.encrypted == "unknown":
            reasons.append("encryption_unknown_treated_as_not")
        elif facts.encrypted == "yes" and kind in EXEMPTION_MAY_APPLY_KINDS:
            exempt = True  # [LAW 規則7条1号] — only on the conditions listed below
            reasons.append("encryption_exempt_if_conditions_hedged")
        elif facts.encrypted == "yes":
            reasons.append(_ENCRYPTION_NOT_RELIED[kind])

    status = "required" if sure else "advised"
    if exempt or not (sure or maybe):
        status = "not_required"
    if status != "not_required" and facts.contractor == "we_are_contractor":
        # [LAW 法26条1項但書・2項, 規則9条] released by telling the client promptly.
        reasons.append("we_are_contractor_released_if_client_told")
    if maybe_data and status != "not_required":
        reasons.append("form_q1_mynumber_yes_if_unsure")  # [PUB ppc leakAction] Q1: はい
    conditions: tuple[str, ...] = ()
    if status == "not_required":
        # 本人通知 is a duty only in the 4 cases [LAW 法26条2項]; recommend it anyway.
        reasons.append("individual_notice_recommended")
        conditions = _exemption_conditions(kind) if exempt else _no_case_conditions()
    return PpcDetermination(
        status=status,
        cases=tuple(c for c in CASES if c in sure),
        uncertain=tuple(c for c in CASES if c in maybe),
        exempt_by_encryption=exempt,
        reasons=tuple(reasons),
        conditions=conditions,
    )


def _no_case_conditions() -> tuple[str, ...]:
    # None of 規則7条1〜4号 holds on the answers: each is a condition the merchant can check.
    return ("cond_no_sensitive", "cond_no_financial", "cond_no_improper_purpose", "cond_not_over_1000")


@dataclass(frozen=True)
class MyNumberDetermination:
    """Whether the My Number rule (番号法29条の4 and the PPC rule in force from 2025-04-01,
    規則2条) asks for a report, and advice codes."""

    status: str  # one of STATUSES
    reasons: tuple[str, ...]  # MN_REASONS
    advice: tuple[str, ...]  # MN_ADVICE
    conditions: tuple[str, ...] = ()  # CONDITIONS, only with "not_required"


def mynumber_determination(facts: IncidentFacts) -> MyNumberDetermination | None:
    """Apply the My Number reporting rule; None when no My Number was involved."""
    if "my_number" not in facts.data:
        return None
    reasons: list[str] = []
    # [LAW] 規則2条2号: 不正の目的 — any number of people.
    if facts.kind in ATTACK_KINDS:
        reasons.append("mn_improper_purpose")
    # [LAW] 規則2条4号: 本人の数が百人を超える.
    if facts.people in ("101_to_1000", "over_1000"):
        reasons.append("mn_over_100_people")
    if reasons:
        status = "required"
    else:
        if facts.kind in MAYBE_ATTACK_KINDS:
            reasons.append("mn_improper_purpose_unclear")
        if facts.people == "unknown":
            reasons.append("mn_people_unknown")
        status = "advised" if reasons else "not_required"
    conditions: tuple[str, ...] = ()
    if facts.encrypted == "yes" and status != "not_required":
        if facts.kind in EXEMPTION_MAY_APPLY_KINDS:
            # [LAW] the rule's own encryption carve-out, with the same limits as APPI's.
            status = "not_required"
            reasons.append("mn_encryption_exempt_if_conditions_hedged")
            conditions = _exemption_conditions(facts.kind)
        else:
            reasons.append("mn_encryption_not_relied_on_hedged")
    elif status == "not_required":
        conditions = ("cond_no_improper_purpose", "cond_mn_not_over_100", "cond_mn_not_exposed_online")
    if status == "not_required":
        # [LAW 規則2条3号; PUB ppc faq2-q4-8] readable by 不特定多数 online → reportable at any size.
        reasons.append("mn_report_if_exposed_online")
    advice = ["mn_form_q1_answer_yes", "mn_municipality_number_change"]  # [PUB] both
    if status != "not_required":
        advice.append("mn_deadlines_like_appi")  # [LAW] 速報 速やかに, 確報 30日 / 60日 (2条2号)
    return MyNumberDetermination(status, tuple(reasons), tuple(advice), conditions)


def filing_steps(det: PpcDetermination, mn: MyNumberDetermination | None) -> tuple[str, ...]:
    """Where and how to file, when a report is required or advised.

    [PUB ppc leakAction] the online form; [LAW 規則8条3項2号 / 法150条] delegated sectors file
    with their ministry, and the PPC page's Q3 tells which."""
    needed = det.status != "not_required" or (mn is not None and mn.status != "not_required")
    return FILING if needed else ()


@dataclass(frozen=True)
class ReportItem:
    """One of the Commission's report items (規則8条1項1〜9号).

    `known` holds ``field=value`` strings the triage already answered (values are codes or an
    ISO date-time); `to_find_out` says the merchant still has to establish or write something.
    """

    number: int
    key: str  # REPORT_KEYS
    known: tuple[str, ...]
    to_find_out: bool


def report_items(facts: IncidentFacts, det: PpcDetermination) -> tuple[ReportItem, ...]:
    """Lay out report items 1–9 [LAW 規則8条1項], filled with what the triage knows."""
    data = tuple(f"data={d}" for d in DATA if d in facts.data and d != "unknown")
    if facts.kind == "card_leak":  # [LAW] for case 3 the items include data being acquired
        data += ("scope=includes_data_being_acquired",)
    if facts.encrypted != "unknown":
        data += (f"encrypted={facts.encrypted}",)
    people = (f"people={facts.people}",) if facts.people != "unknown" else ()
    contractor = (f"contractor={facts.contractor}",) if facts.contractor != "unknown" else ()
    other = (
        tuple(f"ppc_case={c}" for c in det.cases)
        + tuple(f"ppc_case_uncertain={c}" for c in det.uncertain)
        + (("exempt_by_encryption=yes",) if det.exempt_by_encryption else ())
        + contractor
    )
    known_and_open = (
        # 1 概要: occurrence date and sequence of events are not asked at triage.
        ((f"kind={facts.kind}", f"discovered_at={facts.discovered_at.isoformat()}"), True),
        (data, "unknown" in facts.data or facts.encrypted == "unknown"),  # 2 項目
        (people, True),  # 3 本人の数: the report wants a number, not a band
        ((f"kind={facts.kind}", *contractor), True),  # 4 原因: needs investigation
        ((), True),  # 5 二次被害
        ((), True),  # 6 本人への対応
        ((), True),  # 7 公表
        ((), True),  # 8 再発防止
        (other, facts.contractor == "unknown"),  # 9 その他
    )
    rows = zip(REPORT_KEYS, known_and_open, strict=True)
    return tuple(
        ReportItem(number=i, key=key, known=known, to_find_out=open_)
        for i, (key, (known, open_)) in enumerate(rows, start=1)
    )
