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
hedge (目安 / ご確認ください). Dates have no code of their own, so the record that carries a
date says it instead: `ChecklistItem.hedged`, and every date in `Deadlines` is hedged (the
day-count convention is unverified) — `Deadlines.codes` names why.

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
    "account_passwords",
    "my_number",
    "sensitive",
    "trade_secrets",
    "unknown",
)
PEOPLE = ("up_to_100", "101_to_1000", "over_1000", "unknown")
TRISTATE = ("yes", "no", "unknown")
INSURANCE = ("rakuten_group", "sompo", "other", "none", "unknown")

STATUSES = ("required", "advised", "not_required")
CASES = ("sensitive", "financial_loss", "improper_purpose", "over_1000")  # 規則7条1号〜4号

HEDGE_SUFFIX = "_hedged"

# Every reason code `ppc_determination` can return (for the template writer and a test).
PPC_REASONS = (
    "no_personal_data",
    "personal_data_unknown",
    "data_unknown",
    "people_unknown",
    "card_leak_treated_as_attack",
    "theft_or_loss_unknown",
    "other_kind_purpose_unclear",
    "encryption_unknown_treated_as_not",
    "encryption_not_relied_on_card_leak_hedged",
    "encryption_exempt_if_keys_safe_hedged",
    "form_q1_mynumber_yes_if_unsure",
    "individual_notice_recommended",
)
MN_REASONS = (
    "mn_improper_purpose",
    "mn_over_100_people_hedged",
    "mn_improper_purpose_unclear",
    "mn_people_unknown_hedged",
    "mn_report_if_exposed_online",
    "mn_encryption_not_considered_hedged",
)
MN_ADVICE = (
    "mn_form_q1_answer_yes",
    "mn_municipality_number_change",
    "mn_deadlines_like_appi_hedged",
)
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
_PERSONAL = frozenset({"names_contacts", "card_numbers", "account_passwords", "my_number", "sensitive"})
# 規則7条3号: acts with improper purpose — unauthorized access, ransomware, card skimming or
# hacking, an employee taking data out. [LAW; PUB businesslawyers 1433]
ATTACK_KINDS = frozenset({"unauthorized_access", "ransomware", "card_leak", "insider"})
# Theft or loss of a device is not known at triage; "other" is unclassified, so an attack
# cannot be excluded either. Both make case 3 uncertain.
MAYBE_ATTACK_KINDS = frozenset({"lost_device", "other"})


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
    contractor: str  # a contractor / payment provider / cart or SaaS vendor involved
    insurance: str

    def __post_init__(self) -> None:
        _check("kind", self.kind, KINDS)
        _check("people", self.people, PEOPLE)
        _check("encrypted", self.encrypted, TRISTATE)
        _check("contractor", self.contractor, TRISTATE)
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


@dataclass(frozen=True)
class PpcDetermination:
    """Whether to report to the PPC. `cases`/`uncertain` describe the facts before the
    encryption exemption; `exempt_by_encryption` is True only when it removed a case."""

    status: str  # one of STATUSES
    cases: tuple[str, ...]  # CASES that apply for sure
    uncertain: tuple[str, ...]  # CASES that might apply because of an "unknown"/unclear answer
    exempt_by_encryption: bool
    reasons: tuple[str, ...]  # PPC_REASONS


def ppc_determination(facts: IncidentFacts) -> PpcDetermination:
    """Apply 法26条1項 / 規則7条 to the triage answers, conservatively for unknowns."""
    data, kind = facts.data, facts.kind
    maybe_data = "unknown" in data
    # A card leak is card data by definition, even if the data answer left it out.
    personal_sure = bool(data & _PERSONAL) or kind == "card_leak"
    if not personal_sure and not maybe_data:
        return PpcDetermination("not_required", (), (), False, ("no_personal_data",))

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
    # [LAW] 規則7条2号: 財産的被害のおそれ — card numbers, net-banking credentials
    # [PUB businesslawyers 1433]; any number of people.
    if data & {"card_numbers", "account_passwords"} or kind == "card_leak":
        sure.add("financial_loss")
    elif maybe_data:
        maybe.add("financial_loss")
    # [LAW] 規則7条3号: 不正の目的 — any number; since 2024-04 incl. data being acquired
    # (web skimming). card_leak is treated as skimming/hacking. [LAW; PUB mclaw, azx]
    if kind in ATTACK_KINDS:
        sure.add("improper_purpose")
        if kind == "card_leak":
            reasons.append("card_leak_treated_as_attack")
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
        elif facts.encrypted == "yes" and kind == "card_leak":
            # Skimming captures card data at entry, before any encryption at rest.
            # [LAW 2024-04 amendment; own inference → hedged]
            reasons.append("encryption_not_relied_on_card_leak_hedged")
        elif facts.encrypted == "yes":
            # [LAW] 規則7条 柱書: 高度な暗号化 exempts (1)–(4); only if the keys were not
            # leaked too [guideline, not in domain.md → hedged].
            exempt = True
            reasons.append("encryption_exempt_if_keys_safe_hedged")

    status = "required" if sure else "advised"
    if exempt or not (sure or maybe):
        status = "not_required"
    if maybe_data and status != "not_required":
        reasons.append("form_q1_mynumber_yes_if_unsure")  # [PUB ppc leakAction] Q1: はい
    if status == "not_required":
        # 本人通知 is a duty only in the 4 cases [LAW 法26条2項]; recommend it anyway.
        reasons.append("individual_notice_recommended")
    return PpcDetermination(
        status=status,
        cases=tuple(c for c in CASES if c in sure),
        uncertain=tuple(c for c in CASES if c in maybe),
        exempt_by_encryption=exempt,
        reasons=tuple(reasons),
    )


@dataclass(frozen=True)
class MyNumberDetermination:
    """Whether the My Number rule (番号法29条の4) asks for a report, and advice codes."""

    status: str  # one of STATUSES
    reasons: tuple[str, ...]  # MN_REASONS
    advice: tuple[str, ...]  # MN_ADVICE


def mynumber_determination(facts: IncidentFacts) -> MyNumberDetermination | None:
    """Apply the My Number reporting rule; None when no My Number was involved."""
    if "my_number" not in facts.data:
        return None
    reasons: list[str] = []
    # [PUB] 規則2条: 不正の目的 (confirmed).
    if facts.kind in ATTACK_KINDS:
        reasons.append("mn_improper_purpose")
    # [PUB + UNVERIFIED] 規則2条: 本人の数が百人を超える — threshold wording unverified.
    if facts.people in ("101_to_1000", "over_1000"):
        reasons.append("mn_over_100_people_hedged")
    if reasons:
        status = "required"
    else:
        if facts.kind in MAYBE_ATTACK_KINDS:
            reasons.append("mn_improper_purpose_unclear")
        if facts.people == "unknown":
            reasons.append("mn_people_unknown_hedged")
        status = "advised" if reasons else "not_required"
        if status == "not_required":
            # [PUB ppc faq2-q4-8] posted online / readable by 不特定多数 → reportable at any size.
            reasons.append("mn_report_if_exposed_online")
    if facts.encrypted == "yes":
        # domain.md is silent on an encryption exemption in the My Number rule: not applied.
        reasons.append("mn_encryption_not_considered_hedged")
    advice = ["mn_form_q1_answer_yes", "mn_municipality_number_change"]  # [PUB] both
    if status != "not_required":
        advice.append("mn_deadlines_like_appi_hedged")  # [UNVERIFIED] 速報/30日/60日
    return MyNumberDetermination(status, tuple(reasons), tuple(advice))


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
