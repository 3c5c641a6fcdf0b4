"""The words of the incident feature: every code the pure rules emit is named, hedged where due."""

from __future__ import annotations

import itertools
import re
import unicodedata
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from bot.markup import to_plain
from bot.texts import LOCALES, Texts
from dialogs.incident_dates import CHECKLIST_IDS, DEADLINE_CODES, checklist, deadlines
from dialogs.incident_rules import (
    CASES,
    CONDITIONS,
    CONTRACTOR,
    DATA,
    FILING,
    INSURANCE,
    KINDS,
    MN_ADVICE,
    MN_REASONS,
    PEOPLE,
    PPC_REASONS,
    REPORT_KEYS,
    STATUSES,
    TRISTATE,
    IncidentFacts,
    is_hedged,
    mynumber_determination,
    ppc_determination,
    report_items,
)
from dialogs.incident_steps import FIRST_AID, INSURER_CODES, TYPE_STEP_CODES
from tests.support.samples import sample_params, variants

TEXTS = Texts()
JST = ZoneInfo("Asia/Tokyo")

# Label group -> every code the rules (or the incident buttons) can put in it.
GROUPS = {
    "incident_kind": (*KINDS, "unknown"),
    "incident_discovered": ("now", "earlier_today", "yesterday", "unknown"),
    "incident_data": DATA,
    "incident_people": PEOPLE,
    "incident_yes_no": TRISTATE,
    "incident_contractor": CONTRACTOR,
    "incident_year": ("yes",),
    "incident_insurance": INSURANCE,
    "condition": CONDITIONS,
    "filing": FILING,
    "ppc_status": STATUSES,
    "mn_status": STATUSES,
    "ppc_case": CASES,
    "ppc_reason": PPC_REASONS,
    "mn_reason": MN_REASONS,
    "mn_advice": MN_ADVICE,
    "first_aid": FIRST_AID,
    "type_step": TYPE_STEP_CODES,
    "insurer": INSURER_CODES,
    "deadline": DEADLINE_CODES,
    "checklist": CHECKLIST_IDS,
    "checklist_detail": CHECKLIST_IDS,
    "report_key": REPORT_KEYS,
}
BUTTON_GROUPS = (
    "incident_kind",
    "incident_discovered",
    "incident_data",
    "incident_people",
    "incident_yes_no",
    "incident_contractor",
    "incident_year",
    "incident_insurance",
)
# Where the words for each ReportItem.known field's values live.
REPORT_VALUE_GROUPS = {
    "kind": "incident_kind",
    "data": "incident_data",
    "people": "incident_people",
    "ppc_case": "ppc_case",
    "ppc_case_uncertain": "ppc_case",
    "scope": "report_value",
    "encrypted": "report_value",
    "contractor": "incident_contractor",
    "exempt_by_encryption": "report_value",
}
HEDGE_MARKERS = {
    "ja": ("目安", "確認", "見込み", "とされ", "場合があり"),
    "en": ("guide", "confirm", "may", "likely", "check"),
}
# The only phone numbers domain.md lets the incident words give (#9110 only hedged).
KNOWN_NUMBERS = {"0120-258-189", "0120-994-294", "0120-318-258", "0120-362-119", "#9110"}
NUMBERS_24H = ("0120-258-189", "0120-318-258", "0120-362-119")
ALL_LABELS = [(locale, group, code) for locale in LOCALES for group in GROUPS for code in GROUPS[group]]


def hedged(locale: str, text: str) -> bool:
    if locale == "ja":
        return any(m in text for m in HEDGE_MARKERS["ja"])
    return any(re.search(rf"\b{m}", text, re.IGNORECASE) for m in HEDGE_MARKERS["en"])


def width(text: str) -> float:
    """Width in full-width characters: a half-width character counts as half."""
    return sum(1 if unicodedata.east_asian_width(c) in "FW" else 0.5 for c in text)


def incident_labels(locale: str) -> dict[str, dict[str, str]]:
    groups = (*GROUPS, "report_field", "report_value")
    return {g: TEXTS.labels(locale, g) for g in groups}


@cache
def sample_facts() -> tuple[IncidentFacts, ...]:
    """A broad grid of triage answers, enough to reach every branch of the rules."""
    data_sets = [{d} for d in DATA] + [{"names_contacts", "my_number"}, {"sensitive", "unknown"}]
    return tuple(
        IncidentFacts(
            kind=kind,
            discovered_at=datetime(2026, 11, 22, 2, 0, tzinfo=JST),
            data=frozenset(data),
            people=people,
            encrypted=encrypted,
            contractor=contractor,
            insurance=insurance,
        )
        for kind, data, people, encrypted, contractor, insurance in itertools.product(
            KINDS, data_sets, PEOPLE, TRISTATE, CONTRACTOR, INSURANCE
        )
    )


@pytest.mark.parametrize(("locale", "group", "code"), ALL_LABELS)
def test_incident_labels_every_code_has_a_label(locale, group, code):
    """Each code a rules module exports has a non-empty label in its group, in both languages."""
    assert TEXTS.label(locale, group, code).strip()


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("group", list(GROUPS))
def test_incident_labels_no_stale_codes(locale, group):
    """A group names exactly the codes the rules export, so a renamed code cannot linger."""
    assert set(TEXTS.labels(locale, group)) == set(GROUPS[group])


@pytest.mark.parametrize("locale", LOCALES)
def test_incident_labels_hedged_codes_carry_a_hedge(locale):
    """Every `_hedged` code reads as a hedge (目安, ご確認ください / as a guide, confirm...)."""
    unhedged = [
        f"{group}.{code}"
        for group, codes in GROUPS.items()
        for code in codes
        if is_hedged(code) and not hedged(locale, TEXTS.label(locale, group, code))
    ]
    assert not unhedged


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("group", ["ppc_status", "mn_status"])
def test_incident_labels_not_required_is_hedged(locale, group):
    """A "no report needed" status is worded as a likelihood on current answers, not a certainty."""
    assert hedged(locale, TEXTS.label(locale, group, "not_required"))


@pytest.mark.parametrize("locale", LOCALES)
def test_incident_labels_hedged_checklist_items_carry_a_hedge(locale):
    """Every checklist item the rules mark as hedged has a hedged one-line description."""
    hedged_ids = set()
    for facts in sample_facts():
        det = ppc_determination(facts)
        dl = deadlines(facts, det, today=date(2026, 11, 22))
        items = checklist(facts, det, dl, mynumber_determination(facts))
        hedged_ids |= {item.id for item in items if item.hedged}
    assert hedged_ids
    for item_id in sorted(hedged_ids):
        assert hedged(locale, TEXTS.label(locale, "checklist_detail", item_id)), item_id


@pytest.mark.parametrize("locale", LOCALES)
def test_incident_labels_every_report_field_and_value_is_named(locale):
    """Each "field=value" that report_items can produce has words for its field and its value."""
    for facts in sample_facts():
        for item in report_items(facts, ppc_determination(facts)):
            for known in item.known:
                field, value = known.split("=", 1)
                assert TEXTS.label(locale, "report_field", field)
                if field == "discovered_at":
                    datetime.fromisoformat(value)  # shown with the |datetime filter
                else:
                    assert TEXTS.label(locale, REPORT_VALUE_GROUPS[field], value)


def test_incident_labels_checklist_buttons_are_short():
    """Checklist buttons fit a phone: at most 14 full-width characters in ja, 28 in en."""
    for code, text in TEXTS.labels("ja", "checklist").items():
        assert width(text) <= 14, (code, text)
    for code, text in TEXTS.labels("en", "checklist").items():
        assert len(text) <= 28, (code, text)


@pytest.mark.parametrize("group", BUTTON_GROUPS)
def test_incident_labels_answer_buttons_are_short(group):
    """Triage answer buttons stay within 16 full-width characters in ja and 32 in en."""
    for code, text in TEXTS.labels("ja", group).items():
        assert width(text) <= 16, (code, text)
    for code, text in TEXTS.labels("en", group).items():
        assert len(text) <= 32, (code, text)


@pytest.mark.parametrize("locale", LOCALES)
def test_incident_labels_are_plain_strings(locale):
    """Labels hold no markup or template syntax: templates add both, with autoescape on."""
    for group, entries in incident_labels(locale).items():
        for code, text in entries.items():
            assert isinstance(text, str), (group, code)
            assert not re.search(r"[<>{}]", text), (group, code, text)


@pytest.mark.parametrize("locale", LOCALES)
def test_incident_labels_give_only_known_phone_numbers(locale):
    """No phone number reaches a merchant unless domain.md lists it."""
    texts = [t for entries in incident_labels(locale).values() for t in entries.values()]
    for staff_notified in (True, False):
        texts.append(render_first_aid(locale, staff_notified))
    numbers = {n for t in texts for n in re.findall(r"#\d{4}|\d{2,4}-\d{2,4}-\d{3,4}", t)}
    assert numbers <= KNOWN_NUMBERS, numbers - KNOWN_NUMBERS


def render_first_aid(locale: str, staff_notified: bool) -> str:
    return TEXTS.render(
        locale, "incident/first_aid", incident_ref="I-20261122-0001", staff_notified=staff_notified
    )


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("staff_notified", [True, False])
def test_incident_labels_first_aid_gives_the_three_24h_numbers(locale, staff_notified):
    """The first reply shows the three 24-hour desks and the incident's reference."""
    text = to_plain(render_first_aid(locale, staff_notified))
    for number in NUMBERS_24H:
        assert number in text
    assert "I-20261122-0001" in text


@pytest.mark.parametrize("locale", LOCALES)
def test_incident_labels_first_aid_opens_with_the_numbers(locale):
    """The 24-hour numbers come before any advice, within the first lines."""
    lines = to_plain(render_first_aid(locale, False)).splitlines()
    assert all(any(n in line for line in lines[:4]) for n in NUMBERS_24H)


@pytest.mark.parametrize("locale", LOCALES)
def test_incident_labels_first_aid_mentions_staff_only_when_notified(locale):
    """The staff line appears when staff were alerted and is absent otherwise."""
    staff = {"ja": "担当スタッフにも通知しました", "en": "staff have been alerted"}[locale]
    assert staff in render_first_aid(locale, True)
    assert staff not in render_first_aid(locale, False)


def test_incident_labels_first_aid_is_short_in_japanese():
    """The Japanese first reply stays under about 900 characters, readable at 2 a.m."""
    assert len(to_plain(render_first_aid("ja", True))) < 900


def test_incident_labels_start_up_check_passes():
    """Both locales define the same incident groups and keys, so the start-up check passes."""
    TEXTS.check()


SEED_NUMBERS = ("0120-258-189", "0120-362-119")  # seed 000 (MS&AD desk), seed 001 (LAC)
SOMPO_HEDGE = {"ja": "ご確認ください", "en": "check the number"}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    "key", ["incident/first_aid", "handoff/opened", "handoff/unavailable", "handoff/no_answer"]
)
def test_incident_sompo_number_comes_after_the_seed_numbers_and_is_hedged(locale, key):
    """domain.md §6 (2026-12): 0120-318-258 is on no seed, only a third-party page: wherever a
    merchant reads it, it follows the two seed numbers and carries a hedge, never alone."""
    for params in variants(key):
        text = to_plain(TEXTS.render(locale, key, **sample_params(key) | params))
        assert_sompo_after_seeds_and_hedged(locale, text)


def assert_sompo_after_seeds_and_hedged(locale: str, text: str) -> None:
    if "0120-318-258" not in text:
        return
    sompo = text.index("0120-318-258")
    assert all(0 <= text.find(n) < sompo for n in SEED_NUMBERS)
    assert SOMPO_HEDGE[locale] in text[sompo : sompo + 120]
