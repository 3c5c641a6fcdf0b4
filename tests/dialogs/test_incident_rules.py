"""Table tests for the pure incident rules; every expected date is written by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import date as D
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialogs.incident_dates import (
    CHECKLIST_IDS,
    DEADLINE_CODES,
    ChecklistItem,
    checklist,
    deadlines,
    reminder_times,
)
from dialogs.incident_rules import (
    CASES,
    DATA,
    INSURANCE,
    KINDS,
    MN_ADVICE,
    MN_REASONS,
    PEOPLE,
    PPC_REASONS,
    REPORT_KEYS,
    TRISTATE,
    IncidentFacts,
    filing_steps,
    is_hedged,
    mynumber_determination,
    ppc_determination,
    report_items,
)
from dialogs.incident_steps import (
    INSURER_CODES,
    TYPE_STEP_CODES,
    first_aid_steps,
    insurer_requirements,
    type_steps,
)

JST = ZoneInfo("Asia/Tokyo")
BASE = dict(
    kind="missent",
    discovered_at=datetime(2026, 11, 22, 10, 0, tzinfo=JST),
    data=frozenset({"names_contacts"}),
    people="up_to_100",
    encrypted="no",
    contractor="no",
    insurance="none",
)


def facts(**changes) -> IncidentFacts:
    """Build facts from a harmless missent baseline; `data` may be given as a plain set."""
    if "data" in changes:
        changes["data"] = frozenset(changes["data"])
    return IncidentFacts(**{**BASE, **changes})


any_facts = st.builds(
    IncidentFacts,
    kind=st.sampled_from(KINDS),
    discovered_at=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(JST)
    ),
    data=st.frozensets(st.sampled_from(DATA), min_size=1),
    people=st.sampled_from(PEOPLE),
    encrypted=st.sampled_from(TRISTATE),
    contractor=st.sampled_from(TRISTATE),
    insurance=st.sampled_from(INSURANCE),
)


# --- IncidentFacts validation -----------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "phishing"},
        {"data": {"names_contacts", "photos"}},
        {"data": set()},
        {"people": "1000"},
        {"encrypted": "maybe"},
        {"contractor": "true"},
        {"insurance": "tokio_marine"},
        {"discovered_at": datetime(2026, 11, 22, 10, 0)},
    ],
)
def test_incident_facts_reject_bad_answers(changes):
    """An unknown code, empty data or a naive time is refused with ValueError."""
    with pytest.raises(ValueError):
        facts(**changes)


def test_incident_facts_reject_data_given_as_string():
    """A bare string for `data` is a caller bug, not a set of codes."""
    with pytest.raises(TypeError):
        IncidentFacts(**{**BASE, "data": "names_contacts"})


@pytest.mark.parametrize(
    ("discovered_at", "expected_day"),
    [
        (datetime(2026, 3, 31, 23, 59, tzinfo=JST), "2026-03-31"),
        (datetime(2026, 4, 1, 0, 0, tzinfo=JST), "2026-04-01"),
        (datetime(2026, 3, 31, 14, 59, tzinfo=UTC), "2026-03-31"),
        (datetime(2026, 3, 31, 15, 0, tzinfo=UTC), "2026-04-01"),
    ],
)
def test_incident_facts_discovery_date_is_the_jst_date(discovered_at, expected_day):
    """The discovery date is the JST calendar date, whatever zone the time was given in."""
    f = facts(discovered_at=discovered_at)
    assert f.discovered_on.isoformat() == expected_day
    assert f.discovered_at.tzinfo == JST


# --- PPC determination (法26条, 規則7条) --------------------------------------------------

PPC_TABLE = [
    # id, changes, status, cases, uncertain
    ("sensitive_alone", {"data": {"sensitive"}}, "required", ("sensitive",), ()),
    ("card_numbers_alone", {"data": {"card_numbers"}}, "required", ("financial_loss",), ()),
    ("passwords_alone", {"data": {"account_passwords"}}, "required", ("financial_loss",), ()),
    ("unauthorized_access", {"kind": "unauthorized_access"}, "required", ("improper_purpose",), ()),
    ("ransomware", {"kind": "ransomware"}, "required", ("improper_purpose",), ()),
    ("insider", {"kind": "insider"}, "required", ("improper_purpose",), ()),
    (
        "card_leak",
        {"kind": "card_leak", "data": {"card_numbers"}},
        "required",
        ("financial_loss", "improper_purpose"),
        (),
    ),
    (
        "card_leak_without_card_answer",
        {"kind": "card_leak", "data": {"names_contacts"}},
        "required",
        ("financial_loss", "improper_purpose"),
        (),
    ),
    ("over_1000_alone", {"people": "over_1000"}, "required", ("over_1000",), ()),
    ("101_to_1000_not_a_case", {"people": "101_to_1000"}, "not_required", (), ()),
    ("missent_names_small", {}, "not_required", (), ()),
    ("my_number_is_not_an_appi_case", {"data": {"my_number"}}, "not_required", (), ()),
    (
        "trade_secrets_only",
        {"kind": "unauthorized_access", "data": {"trade_secrets"}, "people": "over_1000"},
        "not_required",
        (),
        (),
    ),
]


@pytest.mark.parametrize(
    ("changes", "status", "cases", "uncertain"),
    [row[1:] for row in PPC_TABLE],
    ids=[row[0] for row in PPC_TABLE],
)
def test_incident_ppc_each_case_alone(changes, status, cases, uncertain):
    """Each of the four reportable cases triggers a report on its own, at any headcount."""
    det = ppc_determination(facts(**changes))
    assert (det.status, det.cases, det.uncertain) == (status, cases, uncertain)
    assert det.exempt_by_encryption is False


UNKNOWN_TABLE = [
    (
        "data_unknown_alone",
        {"data": {"unknown"}},
        ("sensitive", "financial_loss"),
        ("personal_data_unknown", "form_q1_mynumber_yes_if_unsure"),
    ),
    (
        "data_partly_unknown",
        {"data": {"names_contacts", "unknown"}},
        ("sensitive", "financial_loss"),
        ("data_unknown", "form_q1_mynumber_yes_if_unsure"),
    ),
    (
        "data_unknown_ransomware",
        {"kind": "ransomware", "data": {"unknown", "trade_secrets"}},
        ("sensitive", "financial_loss", "improper_purpose"),
        ("personal_data_unknown", "form_q1_mynumber_yes_if_unsure"),
    ),
    ("people_unknown", {"people": "unknown"}, ("over_1000",), ("people_unknown",)),
    (
        "lost_device_theft_or_loss",
        {"kind": "lost_device"},
        ("improper_purpose",),
        ("theft_or_loss_unknown",),
    ),
    (
        "other_kind",
        {"kind": "other"},
        ("improper_purpose",),
        ("other_kind_purpose_unclear",),
    ),
    (
        "encryption_unknown_with_uncertain_case",
        {"kind": "lost_device", "encrypted": "unknown"},
        ("improper_purpose",),
        ("theft_or_loss_unknown", "encryption_unknown_treated_as_not"),
    ),
]


@pytest.mark.parametrize(
    ("changes", "uncertain", "reasons"),
    [row[1:] for row in UNKNOWN_TABLE],
    ids=[row[0] for row in UNKNOWN_TABLE],
)
def test_incident_ppc_unknown_answer_is_advised(changes, uncertain, reasons):
    """An answer that leaves a case open makes the report advised, naming case and reason."""
    det = ppc_determination(facts(**changes))
    assert det.status == "advised"
    assert det.cases == ()
    assert det.uncertain == uncertain
    assert det.reasons == reasons


def test_incident_ppc_unknown_encryption_counts_as_not_encrypted():
    """Encryption 'unknown' does not exempt: a sure case stays required."""
    det = ppc_determination(facts(kind="unauthorized_access", encrypted="unknown"))
    assert det.status == "required"
    assert det.exempt_by_encryption is False
    assert det.reasons == ("encryption_unknown_treated_as_not",)


ENCRYPTION_TABLE = [
    # id, changes, status, exempt, reasons — domain.md §2.1 "2026-12 — the exemption's limits":
    # the carve-out of 規則7条1号 never clears an attack (key reachable, data skimmed before it is
    # encrypted, ransomware's 滅失・毀損); it may clear a lost device or a mis-sent file.
    (
        "attack_encrypted",
        {"kind": "unauthorized_access", "encrypted": "yes"},
        "required",
        False,
        ("encryption_intruder_may_reach_key_hedged",),
    ),
    (
        "insider_encrypted",
        {"kind": "insider", "encrypted": "yes"},
        "required",
        False,
        ("encryption_intruder_may_reach_key_hedged",),
    ),
    (
        "ransomware_encrypted",
        {"kind": "ransomware", "encrypted": "yes"},
        "required",
        False,
        ("encryption_ransomware_loss_hedged",),
    ),
    (
        "card_leak_encrypted",
        {"kind": "card_leak", "data": {"card_numbers"}, "encrypted": "yes"},
        "required",
        False,
        ("card_leak_treated_as_attack", "encryption_skimming_before_encryption_hedged"),
    ),
    (
        "hack_with_card_numbers_encrypted",
        {"kind": "unauthorized_access", "data": {"card_numbers"}, "encrypted": "yes"},
        "required",
        False,
        ("card_numbers_taken_by_attack", "encryption_intruder_may_reach_key_hedged"),
    ),
    (
        "other_kind_encrypted",
        {"kind": "other", "encrypted": "yes"},
        "advised",
        False,
        ("other_kind_purpose_unclear", "encryption_kind_unclear_hedged"),
    ),
    (
        "missent_sensitive_encrypted",
        {"data": {"sensitive"}, "encrypted": "yes"},
        "not_required",
        True,
        ("encryption_exempt_if_conditions_hedged", "individual_notice_recommended"),
    ),
    (
        "lost_device_encrypted",
        {"kind": "lost_device", "encrypted": "yes"},
        "not_required",
        True,
        ("theft_or_loss_unknown", "encryption_exempt_if_conditions_hedged", "individual_notice_recommended"),
    ),
    (
        "people_unknown_encrypted",
        {"people": "unknown", "encrypted": "yes"},
        "not_required",
        True,
        ("people_unknown", "encryption_exempt_if_conditions_hedged", "individual_notice_recommended"),
    ),
    (
        "nothing_to_exempt",
        {"encrypted": "yes"},
        "not_required",
        False,
        ("individual_notice_recommended",),
    ),
]


@pytest.mark.parametrize(
    ("changes", "status", "exempt", "reasons"),
    [row[1:] for row in ENCRYPTION_TABLE],
    ids=[row[0] for row in ENCRYPTION_TABLE],
)
def test_incident_ppc_encryption_exemption(changes, status, exempt, reasons):
    """規則7条1号 (高度な暗号化) clears only a lost device or mis-sent file; never an attack."""
    det = ppc_determination(facts(**changes))
    assert (det.status, det.exempt_by_encryption, det.reasons) == (status, exempt, reasons)


@pytest.mark.parametrize("kind", ["unauthorized_access", "ransomware", "card_leak", "insider"])
@pytest.mark.parametrize("data", [{"names_contacts"}, {"card_numbers"}, {"sensitive"}, {"unknown"}])
@pytest.mark.parametrize("people", ["up_to_100", "over_1000", "unknown"])
def test_incident_ppc_attack_is_never_not_required(kind, data, people):
    """Issue 9 / domain.md §2.1 2026-12: for an attack, ransomware, insider or card case the bot
    never says "not required" on "encrypted: yes" (規則7条3号 applies to any personal data)."""
    det = ppc_determination(facts(kind=kind, data=data, people=people, encrypted="yes"))
    assert det.status != "not_required"


def test_incident_ppc_encryption_keeps_the_matched_cases():
    """The exempt determination still lists the cases the facts matched (規則7条1号 on a mis-sent file)."""
    det = ppc_determination(facts(data={"sensitive"}, encrypted="yes"))
    assert det.cases == ("sensitive",)


CONDITIONS_TABLE = [
    # id, changes, conditions — a "not required" verdict names what it rests on (issue 9).
    ("no_personal_data", {"data": {"trade_secrets"}}, ("cond_no_personal_data",)),
    (
        "missent_names_small",  # none of 規則7条1〜4号 holds
        {},
        ("cond_no_sensitive", "cond_no_financial", "cond_no_improper_purpose", "cond_not_over_1000"),
    ),
    (
        "missent_encrypted",  # 規則7条1号: encrypted, key kept apart, and not sent along
        {"data": {"sensitive"}, "encrypted": "yes"},
        ("cond_all_strongly_encrypted", "cond_key_kept_apart_not_leaked", "cond_missent_key_not_sent_along"),
    ),
    (
        "lost_encrypted",  # 規則7条1号: encrypted, key kept apart, not kept with the device
        {"kind": "lost_device", "encrypted": "yes"},
        ("cond_all_strongly_encrypted", "cond_key_kept_apart_not_leaked", "cond_lost_key_not_with_device"),
    ),
    ("required_has_none", {"data": {"sensitive"}}, ()),
]


@pytest.mark.parametrize(
    ("changes", "conditions"), [row[1:] for row in CONDITIONS_TABLE], ids=[row[0] for row in CONDITIONS_TABLE]
)
def test_incident_ppc_not_required_lists_its_conditions(changes, conditions):
    """A "not required" verdict lists what was checked as conditions; a report needed lists none."""
    assert ppc_determination(facts(**changes)).conditions == conditions


LOGIN_AND_CARD_TABLE = [
    # id, changes, status, cases — domain.md §2.1 "2026-12 — ID/password" and PPC FAQ Q6-12.
    ("card_number_alone", {"data": {"card_numbers"}}, "required", ("financial_loss",)),
    ("last4_and_expiry_only", {"data": {"card_last4_expiry"}}, "not_required", ()),
    ("bank_or_payment_login", {"data": {"account_passwords"}}, "required", ("financial_loss",)),
    ("ordinary_site_login", {"data": {"other_logins"}}, "not_required", ()),
    (
        "ordinary_login_stolen_by_attack",  # not case 2, but still case 3
        {"kind": "unauthorized_access", "data": {"other_logins"}},
        "required",
        ("improper_purpose",),
    ),
]


@pytest.mark.parametrize(
    ("changes", "status", "cases"),
    [row[1:] for row in LOGIN_AND_CARD_TABLE],
    ids=[row[0] for row in LOGIN_AND_CARD_TABLE],
)
def test_incident_ppc_logins_and_card_digits(changes, status, cases):
    """規則7条2号: a card number alone or a bank/payment login counts; last-4+expiry does not
    (PPC FAQ Q6-12), nor an ordinary site login by itself."""
    det = ppc_determination(facts(**changes))
    assert (det.status, det.cases) == (status, cases)


def test_incident_ppc_we_are_contractor_is_told_the_release_route():
    """法26条1項但書・2項, 規則9条: a contractor is released by telling its client promptly, so
    the status stays "required" and the route is named, never "not required"."""
    det = ppc_determination(facts(kind="unauthorized_access", contractor="we_are_contractor"))
    assert det.status == "required"
    assert "we_are_contractor_released_if_client_told" in det.reasons


def test_incident_ppc_no_personal_data_needs_no_report():
    """Trade secrets alone are not personal data, so no APPI report and no notice advice."""
    det = ppc_determination(facts(kind="ransomware", data={"trade_secrets"}))
    assert det.reasons == ("no_personal_data",)


def test_incident_ppc_missent_small_recommends_individual_notice():
    """A not-required leak of personal data still recommends telling the people affected."""
    assert ppc_determination(facts()).reasons == ("individual_notice_recommended",)


@given(any_facts)
def test_incident_ppc_status_is_consistent_for_any_answers(f):
    """For any answers: sure and open cases are disjoint and the status follows from them."""
    det = ppc_determination(f)
    assert set(det.cases).isdisjoint(det.uncertain)
    assert set(det.cases + det.uncertain) <= set(CASES)
    assert set(det.reasons) <= set(PPC_REASONS)
    if det.exempt_by_encryption:
        assert f.encrypted == "yes" and det.status == "not_required"
    elif det.cases:
        assert det.status == "required"
    elif det.uncertain:
        assert det.status == "advised"
    else:
        assert det.status == "not_required"


# --- My Number (番号法29条の4) -----------------------------------------------------------

MN_TABLE = [
    # id, changes, status, reasons — the PPC My Number rule in force from 2025-04-01 [LAW,
    # domain.md §3 2026-12]: 規則2条2号 不正目的, 2条4号 more than 100 people, 2条3号 online
    # exposure, and the same encryption carve-out with the same limits as APPI's.
    ("up_to_100_missent", {}, "not_required", ("mn_report_if_exposed_online",)),
    ("101_to_1000", {"people": "101_to_1000"}, "required", ("mn_over_100_people",)),
    ("over_1000", {"people": "over_1000"}, "required", ("mn_over_100_people",)),
    ("people_unknown", {"people": "unknown"}, "advised", ("mn_people_unknown",)),
    ("improper_purpose", {"kind": "ransomware"}, "required", ("mn_improper_purpose",)),
    (
        "improper_and_over_100",
        {"kind": "insider", "people": "101_to_1000"},
        "required",
        ("mn_improper_purpose", "mn_over_100_people"),
    ),
    ("lost_device", {"kind": "lost_device"}, "advised", ("mn_improper_purpose_unclear",)),
    (
        "missent_encrypted_exempt_on_conditions",
        {"people": "101_to_1000", "encrypted": "yes"},
        "not_required",
        ("mn_over_100_people", "mn_encryption_exempt_if_conditions_hedged", "mn_report_if_exposed_online"),
    ),
    (
        "ransomware_encrypted_not_exempt",
        {"kind": "ransomware", "encrypted": "yes"},
        "required",
        ("mn_improper_purpose", "mn_encryption_not_relied_on_hedged"),
    ),
]


@pytest.mark.parametrize(
    ("changes", "status", "reasons"),
    [row[1:] for row in MN_TABLE],
    ids=[row[0] for row in MN_TABLE],
)
def test_incident_mynumber_thresholds(changes, status, reasons):
    """My Number reports at 101+ people or improper purpose; 100 or fewer by mistake is not."""
    det = mynumber_determination(facts(data={"my_number", "names_contacts"}, **changes))
    assert (det.status, det.reasons) == (status, reasons)


def test_incident_mynumber_rule_is_law_not_hedged():
    """domain.md §3 2026-12: the current rule's thresholds and deadlines are [LAW], no hedge."""
    for code in ("mn_over_100_people", "mn_people_unknown", "mn_improper_purpose"):
        assert code in MN_REASONS and not is_hedged(code)
    assert "mn_deadlines_like_appi" in MN_ADVICE


def test_incident_mynumber_none_without_my_number():
    """No My Number in the data means no My Number determination at all."""
    assert mynumber_determination(facts(people="over_1000")) is None


@pytest.mark.parametrize(
    ("people", "advice"),
    [
        ("up_to_100", ("mn_form_q1_answer_yes", "mn_municipality_number_change")),
        (
            "101_to_1000",
            ("mn_form_q1_answer_yes", "mn_municipality_number_change", "mn_deadlines_like_appi"),
        ),
    ],
)
def test_incident_mynumber_advice(people, advice):
    """Always: answer Q1 はい and the number can be changed; deadlines only when reporting."""
    det = mynumber_determination(facts(data={"my_number"}, people=people))
    assert det.advice == advice
    assert set(det.advice) <= set(MN_ADVICE)
    assert set(det.reasons) <= set(MN_REASONS)


def test_incident_hedged_codes_are_marked_by_suffix():
    """A code is hedged exactly when it ends in _hedged."""
    assert is_hedged("mn_over_100_people_hedged")
    assert not is_hedged("mn_improper_purpose")


# --- Report items 1–9 (規則8条1項) --------------------------------------------------------


def test_incident_report_items_are_numbered_1_to_9():
    """The report is laid out as the Commission's nine items, in order."""
    items = report_items(facts(), ppc_determination(facts()))
    assert [(i.number, i.key) for i in items] == list(enumerate(REPORT_KEYS, start=1))
    assert REPORT_KEYS == (
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


def test_incident_report_items_fill_what_the_triage_knows():
    """Known answers fill items 1–4 and 9; items 5–8 are left to find out."""
    f = facts(
        kind="card_leak",
        discovered_at=datetime(2026, 11, 22, 23, 30, tzinfo=JST),
        data={"card_numbers", "names_contacts"},
        people="101_to_1000",
        contractor="yes",
    )
    items = report_items(f, ppc_determination(f))
    assert [(i.known, i.to_find_out) for i in items] == [
        (("kind=card_leak", "discovered_at=2026-11-22T23:30:00+09:00"), True),
        (
            (
                "data=names_contacts",
                "data=card_numbers",
                "scope=includes_data_being_acquired",
                "encrypted=no",
            ),
            False,
        ),
        (("people=101_to_1000",), True),
        (("kind=card_leak", "contractor=yes"), True),
        ((), True),
        ((), True),
        ((), True),
        ((), True),
        (("ppc_case=financial_loss", "ppc_case=improper_purpose", "contractor=yes"), False),
    ]


def test_incident_report_items_mark_unknowns_to_find_out():
    """Unknown data, headcount and contractor leave items 2, 3 and 9 open."""
    f = facts(data={"unknown"}, people="unknown", encrypted="unknown", contractor="unknown")
    items = report_items(f, ppc_determination(f))
    assert [(i.known, i.to_find_out) for i in items if i.number in (2, 3, 9)] == [
        ((), True),
        ((), True),
        (
            (
                "ppc_case_uncertain=sensitive",
                "ppc_case_uncertain=financial_loss",
                "ppc_case_uncertain=over_1000",
            ),
            True,
        ),
    ]


# --- First aid, per-kind steps, insurer requirements ---------------------------------------


def test_incident_first_aid_steps():
    """Everyone gets the same first steps, most urgent first."""
    assert first_aid_steps() == (
        "tell_management_set_up_team",
        "isolate_from_network",
        "do_not_power_off_or_wipe",
        "keep_logs_and_screenshots",
        "write_down_timeline",
        "do_not_pay_ransom_hedged",
        "do_not_admit_liability",
    )


TYPE_STEPS_TABLE = [
    (
        "card_leak",
        (
            "card_tell_psp_acquirer_now",
            "card_stop_card_handling",
            "card_maintenance_page_from_other_server",
            "card_keep_files_and_server_running",
            "card_pfi_investigation",
            "police_cybercrime_desk",
            "ipa_cs_support",
        ),
    ),
    (
        "ransomware",
        (
            "ransom_unplug_cable_and_wifi_keep_power",
            "ransom_keep_network_devices_powered",
            "ransom_photograph_note",
            "evidence_forensics_vendor",
            "police_cybercrime_desk",
            "ipa_cs_support",
            "ransom_decryptors_no_more_ransom_hedged",
        ),
    ),
    (
        "missent",
        (
            "missent_ask_recipient_delete_confirm_in_writing",
            "missent_record_what_when_whom",
            "missent_recovered_unviewed_may_not_be_leak_hedged",
        ),
    ),
    (
        "lost_device",
        (
            "lost_police_report",
            "lost_establish_theft_or_loss",
            "lost_record_device_and_data",
            "lost_remote_wipe_after_recording",
            "lost_change_passwords",
        ),
    ),
    (
        "insider",
        (
            "insider_preserve_logs",
            "insider_restrict_access",
            "insider_evidence_before_confronting_hedged",
            "insider_discovery_excludes_insider_hedged",
            "police_consult",
        ),
    ),
    (
        "unauthorized_access",
        (
            "access_save_server_logs",
            "access_change_credentials_after_evidence",
            "evidence_forensics_vendor",
            "police_cybercrime_desk",
            "ipa_cs_support",
        ),
    ),
    ("other", ("other_record_facts_5w1h", "ipa_cs_support")),
]


@pytest.mark.parametrize(("kind", "steps"), TYPE_STEPS_TABLE, ids=[r[0] for r in TYPE_STEPS_TABLE])
def test_incident_type_steps_per_kind(kind, steps):
    """Each kind of incident has its own steps, in order."""
    assert type_steps(facts(kind=kind)) == steps


def test_incident_type_steps_cover_every_kind():
    """The per-kind table has a row for every kind."""
    assert sorted(r[0] for r in TYPE_STEPS_TABLE) == sorted(KINDS)


@pytest.mark.parametrize(
    ("contractor", "extra"),
    [
        ("no", ()),
        (
            "yes",
            (
                "contractor_identify_roles",
                "contractor_merchant_usually_reports",
                "contractor_report_in_writing",
            ),
        ),
        (
            "unknown",
            (
                "contractor_check_involvement",
                "contractor_identify_roles",
                "contractor_merchant_usually_reports",
                "contractor_report_in_writing",
            ),
        ),
    ],
)
def test_incident_type_steps_contractor(contractor, extra):
    """A contractor that is or may be involved adds the entrustment steps at the end."""
    assert type_steps(facts(contractor=contractor)) == TYPE_STEPS_TABLE[2][1] + extra


@pytest.mark.parametrize(
    ("kind", "has_note"), [("card_leak", True), ("ransomware", False), ("missent", False)]
)
def test_incident_type_steps_rakuten_card_note(kind, has_note):
    """Only a card leak at a Rakuten shop gets the hedged Rakuten note."""
    steps = type_steps(facts(kind=kind, insurance="rakuten_group"))
    assert ("card_rakuten_check_rms_terms_hedged" in steps) is has_note


@given(any_facts)
def test_incident_type_steps_never_repeat_first_aid(f):
    """Per-kind steps come from the catalogue and never repeat a first-aid code."""
    steps = type_steps(f)
    assert set(steps) <= set(TYPE_STEP_CODES)
    assert set(steps).isdisjoint(first_aid_steps())
    assert len(steps) == len(set(steps))


INSURER_TABLE = [
    (
        "rakuten_group",
        (
            "insurer_notify_now_in_writing",
            "late_notice_may_reduce_payout_hedged",
            "ms_accident_desk_24h",
            "rakuten_agent_desk",
            "publication_requirement_4_routes",
            "keep_copy_of_every_filing_hedged",
            "expense_window_180_days_hedged",
            "keep_receipts_for_every_cost",
            "consulting_costs_prior_approval_hedged",
            "mimaikin_up_to_1000_yen_per_person",
            "mimaikin_ask_insurer_first",
            "no_admission_or_settlement_without_insurer",
            "fines_not_insurable",
        ),
    ),
    (
        "sompo",
        (
            "insurer_notify_now_in_writing",
            "late_notice_may_reduce_payout_hedged",
            "lac_emergency_desk_24h",
            "sompo_incident_desk_24h_hedged",
            "sompo_support_service_japan_only",
            "expense_window_check_policy_hedged",
            "keep_receipts_for_every_cost",
            "litigation_costs_prior_approval",
            "mimaikin_ask_insurer_first",
            "no_admission_or_settlement_without_insurer",
            "fines_not_insurable",
        ),
    ),
    (
        "other",
        (
            "insurer_notify_now_in_writing",
            "late_notice_may_reduce_payout_hedged",
            "insurer_desk_check_policy",
            "publication_requirement_check_policy_hedged",
            "expense_window_check_policy_hedged",
            "keep_receipts_for_every_cost",
            "prior_approval_check_policy_hedged",
            "mimaikin_ask_insurer_first",
            "no_admission_or_settlement_without_insurer",
            "fines_not_insurable",
        ),
    ),
    (
        "unknown",
        (
            "insurance_find_policy",
            "insurer_notify_now_in_writing",
            "late_notice_may_reduce_payout_hedged",
            "insurer_desk_check_policy",
            "publication_requirement_check_policy_hedged",
            "expense_window_check_policy_hedged",
            "keep_receipts_for_every_cost",
            "prior_approval_check_policy_hedged",
            "mimaikin_ask_insurer_first",
            "no_admission_or_settlement_without_insurer",
            "fines_not_insurable",
        ),
    ),
    ("none", ("no_insurer", "lac_emergency_desk_24h", "ipa_cs_support")),
]


@pytest.mark.parametrize(("insurance", "codes"), INSURER_TABLE, ids=[r[0] for r in INSURER_TABLE])
def test_incident_insurer_requirements_per_insurer(insurance, codes):
    """What the insurer expects is tailored to the insurance answer."""
    codes_out = insurer_requirements(facts(insurance=insurance))
    assert codes_out == codes
    assert set(codes_out) <= set(INSURER_CODES)


# --- Deadlines (規則8条; discovery day = day 1) -------------------------------------------

SENSITIVE = {"data": {"sensitive"}}  # case 1 only: 30-day final report
RANSOM = {"kind": "ransomware"}  # case 3 only: 60-day final report
CARD = {"kind": "card_leak", "data": {"card_numbers"}}  # cases 2+3: still a case-3 事態, 60 days
LOST = {"kind": "lost_device"}  # case 3 uncertain: both dates
ITEM_3_2_4 = {"kind": "unauthorized_access", "data": {"card_numbers"}, "people": "over_1000"}

DEADLINE_TABLE = [
    # id, discovered on (JST), scenario, prelim_from, prelim_to, final_due, final_due_alt
    ("brief_example_30", "2026-11-22", SENSITIVE, "2026-11-24", "2026-11-26", "2026-12-21", None),
    ("brief_example_60", "2026-11-22", RANSOM, "2026-11-24", "2026-11-26", "2027-01-20", None),
    ("card_item_3_and_2_is_60", "2026-11-22", CARD, "2026-11-24", "2026-11-26", "2027-01-20", None),
    ("items_3_2_4_is_60", "2026-11-22", ITEM_3_2_4, "2026-11-24", "2026-11-26", "2027-01-20", None),
    ("lost_both_dates", "2026-11-22", LOST, "2026-11-24", "2026-11-26", "2026-12-21", "2027-01-20"),
    ("month_end_30", "2026-01-31", SENSITIVE, "2026-02-02", "2026-02-04", "2026-03-01", None),
    ("month_end_60", "2026-01-31", RANSOM, "2026-02-02", "2026-02-04", "2026-03-31", None),
    ("year_end_30", "2026-12-20", SENSITIVE, "2026-12-22", "2026-12-24", "2027-01-18", None),
    ("year_end_60", "2026-12-20", RANSOM, "2026-12-22", "2026-12-24", "2027-02-17", None),
    ("year_end_prelim", "2026-12-30", SENSITIVE, "2027-01-01", "2027-01-03", "2027-01-28", None),
    ("leap_year_30", "2028-02-10", SENSITIVE, "2028-02-12", "2028-02-14", "2028-03-10", None),
    ("leap_year_60", "2028-02-10", RANSOM, "2028-02-12", "2028-02-14", "2028-04-09", None),
    ("non_leap_30", "2026-02-10", SENSITIVE, "2026-02-12", "2026-02-14", "2026-03-11", None),
    ("leap_day_prelim", "2028-02-27", SENSITIVE, "2028-02-29", "2028-03-02", "2028-03-27", None),
    ("non_leap_prelim", "2026-02-27", SENSITIVE, "2026-03-01", "2026-03-03", "2026-03-28", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("day", "scenario", "prelim_from", "prelim_to", "final_due", "final_alt"),
    [row[1:] for row in DEADLINE_TABLE],
    ids=[row[0] for row in DEADLINE_TABLE],
)
def test_incident_deadlines_ppc_dates(day, scenario, prelim_from, prelim_to, final_due, final_alt):
    """規則8条2項: 30 days, or 60 whenever the case is one of 7条3号 (with 1, 2 or 4 too); both
    only when case 3 is unknown. Day 1 = discovery day, across month/year ends and leap days."""
    f = facts(discovered_at=datetime.fromisoformat(f"{day}T18:00+09:00"), **scenario)
    dl = deadlines(f, ppc_determination(f), today=D.fromisoformat(day))
    got = (dl.prelim_from, dl.prelim_to, dl.final_due, dl.final_due_alt)
    assert tuple(d and d.isoformat() for d in got) == (prelim_from, prelim_to, final_due, final_alt)


@pytest.mark.parametrize(
    ("discovered_at", "final_due"),
    [
        (datetime(2026, 3, 31, 23, 59, tzinfo=JST), D(2026, 4, 29)),
        (datetime(2026, 4, 1, 0, 0, tzinfo=JST), D(2026, 4, 30)),
        (datetime(2026, 3, 31, 14, 59, tzinfo=UTC), D(2026, 4, 29)),
        (datetime(2026, 3, 31, 15, 0, tzinfo=UTC), D(2026, 4, 30)),
    ],
)
def test_incident_deadlines_use_the_jst_date_at_midnight(discovered_at, final_due):
    """23:59 and 00:00 JST fall on different days; a UTC time is converted to JST first."""
    f = facts(discovered_at=discovered_at, **SENSITIVE)
    assert deadlines(f, ppc_determination(f), today=D(2026, 4, 1)).final_due == final_due


@pytest.mark.parametrize(
    ("scenario", "codes"),
    [
        (
            SENSITIVE,
            ("day_count_discovery_is_day_1_hedged", "prelim_3_to_5_days_hedged", "final_30"),
        ),
        (
            CARD,
            ("day_count_discovery_is_day_1_hedged", "prelim_3_to_5_days_hedged", "final_60_improper_purpose"),
        ),
        (
            LOST,
            (
                "day_count_discovery_is_day_1_hedged",
                "prelim_3_to_5_days_hedged",
                "final_30_or_60_case3_unknown",
            ),
        ),
        ({}, ()),
    ],
)
def test_incident_deadlines_codes_explain_the_dates(scenario, codes):
    """The codes name the day-count hedge and which of 規則8条2項's periods applies, and why."""
    f = facts(**scenario)
    assert deadlines(f, ppc_determination(f), today=D(2026, 11, 22)).codes == codes


def test_incident_deadlines_none_when_no_report():
    """No report required or advised: no PPC dates and no individuals' notice code."""
    f = facts()
    dl = deadlines(f, ppc_determination(f), today=D(2026, 11, 22))
    assert (dl.prelim_from, dl.prelim_to, dl.final_due, dl.final_due_alt) == (None,) * 4
    assert dl.notify_individuals is None
    assert dl.discovered_on == D(2026, 11, 22)


def test_incident_deadlines_my_number_alone_sets_dates():
    """A My Number leak over 100 people gets PPC dates though APPI alone would not."""
    f = facts(data={"my_number"}, people="101_to_1000")
    dl = deadlines(f, ppc_determination(f), today=D(2026, 11, 22))
    assert (dl.prelim_to, dl.final_due, dl.final_due_alt) == (
        D(2026, 11, 26),
        D(2026, 12, 21),
        None,
    )
    assert dl.notify_individuals == "notify_individuals_promptly"
    assert "final_30" in dl.codes


def test_incident_deadlines_my_number_count_with_attack_is_60_days():
    """番号法 rule (2025-04-01) like 規則8条2項: improper purpose (2条2号) gives 60 days even with
    more than 100 people (2条4号) too: discovered 11/22 → day 60 = 2027-01-20, no second date."""
    f = facts(kind="ransomware", data={"my_number"}, people="101_to_1000")
    dl = deadlines(f, ppc_determination(f), today=D(2026, 11, 22))
    assert (dl.final_due, dl.final_due_alt) == (D(2027, 1, 20), None)


PASSED_TABLE = [
    # id, discovered, today, scenario, prelim_passed, final_passed, alt_passed, codes after the two
    # hedges — by hand: day 5 / day 30 / day 60 of the discovery date (day 1), 規則8条1項・2項.
    # 40 days before 2026-11-22 is 2026-10-13: day 5 = 10/17, day 30 = 11/11, day 60 = 12/11.
    ("forty_days_case3", "2026-10-13", "2026-11-22", CARD, True, False, False,
     ("final_60_improper_purpose", "prelim_passed_file_now")),
    ("forty_days_30_only", "2026-10-13", "2026-11-22", SENSITIVE, True, True, False,
     ("final_30", "prelim_passed_file_now", "final_passed_file_now")),
    ("forty_days_case3_unknown", "2026-10-13", "2026-11-22", LOST, True, True, False,
     ("final_30_or_60_case3_unknown", "prelim_passed_file_now", "final_30_passed_60_open")),
    ("day_5_is_still_open", "2026-11-18", "2026-11-22", SENSITIVE, False, False, False, ("final_30",)),
    ("day_6_has_passed", "2026-11-17", "2026-11-22", SENSITIVE, True, False, False,
     ("final_30", "prelim_passed_file_now")),
    ("day_61_all_passed", "2026-09-23", "2026-11-22", LOST, True, True, True,
     ("final_30_or_60_case3_unknown", "prelim_passed_file_now", "final_passed_file_now")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("day", "today", "scenario", "prelim", "final", "alt", "codes"),
    [row[1:] for row in PASSED_TABLE],
    ids=[row[0] for row in PASSED_TABLE],
)
def test_incident_deadlines_say_which_dates_have_passed(day, today, scenario, prelim, final, alt, codes):
    """A date behind today is flagged passed, and the codes say to file now (規則8条1項 速やかに)."""
    f = facts(discovered_at=datetime.fromisoformat(f"{day}T09:00+09:00"), **scenario)
    dl = deadlines(f, ppc_determination(f), today=D.fromisoformat(today))
    assert (dl.prelim_passed, dl.final_passed, dl.final_alt_passed) == (prelim, final, alt)
    assert dl.codes[2:] == codes


WINDOW_TABLE = [
    # id, discovered, insurer notified, window start, window end
    ("domain_example", D(2026, 4, 1), D(2026, 4, 3), D(2026, 4, 1), D(2026, 9, 30)),
    ("across_year_end", D(2026, 11, 30), D(2026, 12, 1), D(2026, 11, 30), D(2027, 5, 30)),
    ("same_day_notice", D(2026, 10, 15), D(2026, 10, 15), D(2026, 10, 15), D(2027, 4, 13)),
    ("across_leap_february", D(2027, 11, 30), D(2027, 12, 1), D(2027, 11, 30), D(2028, 5, 29)),
]


@pytest.mark.parametrize(
    ("discovered", "notified", "start", "end"),
    [row[1:] for row in WINDOW_TABLE],
    ids=[row[0] for row in WINDOW_TABLE],
)
def test_incident_deadlines_expense_window_180_days(discovered, notified, start, end):
    """The Rakuten-scheme window runs from discovery to 180 days after the notice day."""
    f = facts(
        discovered_at=datetime(discovered.year, discovered.month, discovered.day, 9, tzinfo=JST),
        insurance="rakuten_group",
    )
    dl = deadlines(f, ppc_determination(f), insurer_notified_on=notified, today=D(2028, 6, 1))
    assert (dl.expense_window_start, dl.expense_window_end) == (start, end)
    assert dl.expense_window == "expense_window_180_days_hedged"
    assert "insurer_notice_assumed_today_hedged" not in dl.codes


def test_incident_deadlines_expense_window_assumes_notice_today():
    """Without a notice date the window assumes the insurer is told today, and says so."""
    f = facts(discovered_at=datetime(2026, 4, 1, 9, tzinfo=JST), insurance="rakuten_group")
    dl = deadlines(f, ppc_determination(f), today=D(2026, 4, 3))
    assert dl.expense_window_end == D(2026, 9, 30)
    assert "insurer_notice_assumed_today_hedged" in dl.codes


@pytest.mark.parametrize(
    ("insurance", "insurer_notice", "expense_window"),
    [
        ("rakuten_group", "insurer_notice_now", "expense_window_180_days_hedged"),
        ("sompo", "insurer_notice_now", "expense_window_check_policy_hedged"),
        ("other", "insurer_notice_now", "expense_window_check_policy_hedged"),
        ("unknown", "insurer_notice_now", "expense_window_check_policy_hedged"),
        ("none", None, None),
    ],
)
def test_incident_deadlines_insurer_codes(insurance, insurer_notice, expense_window):
    """Insurer notice is 'now'; only the Rakuten scheme gets dated, others check the policy."""
    f = facts(insurance=insurance)
    dl = deadlines(f, ppc_determination(f), today=D(2026, 11, 22))
    assert (dl.insurer_notice, dl.expense_window) == (insurer_notice, expense_window)
    assert set(dl.codes) <= set(DEADLINE_CODES)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"today": D(2026, 11, 21)}, ValueError),
        ({"today": D(2026, 11, 22), "insurer_notified_on": D(2026, 11, 21)}, ValueError),
        ({"today": datetime(2026, 11, 22, 10, tzinfo=JST)}, TypeError),
    ],
)
def test_incident_deadlines_reject_impossible_dates(kwargs, error):
    """A today or notice date before discovery, or a datetime for a date, is refused."""
    f = facts(insurance="rakuten_group")
    with pytest.raises(error):
        deadlines(f, ppc_determination(f), **kwargs)


# --- Checklist ------------------------------------------------------------------------------


def _checklist(f, **kwargs):
    det = ppc_determination(f)
    dl = deadlines(f, det, today=D(2026, 11, 22), **kwargs)
    return checklist(f, det, dl, mynumber_determination(f))


CHECKLIST_TABLE = [
    (
        "card_leak_rakuten_contractor",
        {**CARD, "contractor": "yes", "insurance": "rakuten_group"},
        [
            ("card_tell_psp", None, False),
            ("card_stop_checkout", None, False),
            ("call_insurer", None, False),
            ("police_consult", None, False),
            ("ipa_consult", None, False),
            ("contractor_report_in_writing", None, False),
            ("card_pfi", None, False),
            ("ppc_prelim", D(2026, 11, 26), True),
            ("notify_individuals", None, False),
            ("publication", None, True),
            ("ppc_final", D(2027, 1, 20), True),
            ("expense_window_end", D(2027, 5, 23), True),
            ("keep_receipts", None, False),
        ],
    ),
    ("missent_small_uninsured", {}, [("consult_incident_desk", None, False)]),
    (
        "my_number_payroll_sompo",
        {"data": {"my_number"}, "people": "101_to_1000", "insurance": "sompo"},
        [
            ("call_insurer", None, False),
            ("ppc_prelim", D(2026, 11, 26), True),
            ("ppc_form_q1_mynumber_yes", None, False),
            ("notify_individuals", None, False),
            ("ppc_final", D(2026, 12, 21), True),
            ("check_policy_expense_window", None, True),
            ("keep_receipts", None, False),
        ],
    ),
    (
        "lost_device_all_unknown",
        {"kind": "lost_device", "contractor": "unknown", "insurance": "unknown"},
        [
            ("check_insurance", None, False),
            ("police_lost_or_theft_report", None, False),
            ("contractor_report_in_writing", None, False),
            ("ppc_prelim", D(2026, 11, 26), True),
            ("notify_individuals", None, False),
            ("ppc_final", D(2026, 12, 21), True),
            ("check_policy_expense_window", None, True),
            ("keep_receipts", None, False),
        ],
    ),
    (
        "ransomware_data_unknown_other_insurer",
        {"kind": "ransomware", "data": {"unknown"}, "insurance": "other"},
        [
            ("call_insurer", None, False),
            ("police_consult", None, False),
            ("ipa_consult", None, False),
            ("ppc_prelim", D(2026, 11, 26), True),
            ("ppc_form_q1_mynumber_yes", None, False),
            ("notify_individuals", None, False),
            ("ppc_final", D(2026, 12, 21), True),
            ("check_policy_expense_window", None, True),
            ("keep_receipts", None, False),
        ],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "expected"),
    [row[1:] for row in CHECKLIST_TABLE],
    ids=[row[0] for row in CHECKLIST_TABLE],
)
def test_incident_checklist_ids_and_order(changes, expected):
    """The checklist holds stable ids ordered by urgency, with due dates and hedge flags."""
    items = _checklist(facts(**changes), insurer_notified_on=D(2026, 11, 24))
    assert [(i.id, i.due, i.hedged) for i in items] == expected


@given(any_facts)
def test_incident_checklist_follows_the_urgency_order(f):
    """For any answers the ids are known, unique and in CHECKLIST_IDS order."""
    det = ppc_determination(f)
    dl = deadlines(f, det, today=f.discovered_on)
    ids = [i.id for i in checklist(f, det, dl, mynumber_determination(f))]
    assert ids == [i for i in CHECKLIST_IDS if i in ids]
    assert ("ppc_final" in ids) is (dl.final_due is not None)


@pytest.mark.parametrize("kind", ["ransomware", "unauthorized_access", "card_leak"])
def test_incident_checklist_names_ipa_once(kind):
    """Uninsured: the incident-desk item already names IPA, so no second "consult IPA" item."""
    ids = [i.id for i in _checklist(facts(kind=kind, insurance="none"))]
    assert "consult_incident_desk" in ids
    assert "ipa_consult" not in ids
    assert len(ids) == len(set(ids))


def test_incident_checklist_rejects_mismatched_deadlines():
    """Deadlines computed for a different incident cannot make a checklist."""
    reportable = facts(**SENSITIVE)
    harmless = facts()
    dl = deadlines(harmless, ppc_determination(harmless), today=D(2026, 11, 22))
    with pytest.raises(ValueError):
        checklist(reportable, ppc_determination(reportable), dl, None)


# --- Reminders ----------------------------------------------------------------------------

FINAL = ChecklistItem("ppc_final", D(2026, 12, 21), True)
EVE = datetime(2026, 12, 20, 9, 0, tzinfo=JST)
DAY = datetime(2026, 12, 21, 9, 0, tzinfo=JST)

REMINDER_TABLE = [
    ("before_both", datetime(2026, 12, 20, 8, 59, tzinfo=JST), (EVE, DAY)),
    ("exactly_at_first", datetime(2026, 12, 20, 9, 0, tzinfo=JST), (EVE, DAY)),
    ("after_first", datetime(2026, 12, 20, 9, 1, tzinfo=JST), (DAY,)),
    ("now_in_utc", datetime(2026, 12, 20, 0, 30, tzinfo=UTC), (DAY,)),
    ("after_both", datetime(2026, 12, 21, 9, 1, tzinfo=JST), ()),
]


@pytest.mark.parametrize(
    ("now", "expected"),
    [row[1:] for row in REMINDER_TABLE],
    ids=[row[0] for row in REMINDER_TABLE],
)
def test_incident_reminders_day_before_and_on_the_day(now, expected):
    """Reminders fall at 09:00 JST the day before and on the due date, past ones skipped."""
    assert reminder_times(FINAL, now=now) == expected


def test_incident_reminders_for_prelim_across_year_end():
    """A preliminary-report target on New Year's Day is reminded on New Year's Eve."""
    item = ChecklistItem("ppc_prelim", D(2027, 1, 1), True)
    now = datetime(2026, 12, 29, 12, 0, tzinfo=JST)
    assert reminder_times(item, now=now) == (
        datetime(2026, 12, 31, 9, 0, tzinfo=JST),
        datetime(2027, 1, 1, 9, 0, tzinfo=JST),
    )


@pytest.mark.parametrize(
    "item",
    [
        ChecklistItem("expense_window_end", D(2027, 5, 23), True),
        ChecklistItem("keep_receipts", None, False),
        ChecklistItem("ppc_final", None, True),
    ],
)
def test_incident_reminders_only_for_ppc_dates(item):
    """Only dated preliminary and final report items get reminders."""
    assert reminder_times(item, now=datetime(2026, 11, 22, 9, 0, tzinfo=JST)) == ()


def test_incident_reminders_reject_naive_now():
    """A naive `now` is refused rather than guessed."""
    with pytest.raises(ValueError):
        reminder_times(FINAL, now=datetime(2026, 12, 20, 8, 0))


OVERDUE_REMINDER_TABLE = [
    # id, item, now, expected — issue 9: a date already past is reminded "from now on", at the
    # next two 09:00 JST, never "before the date".
    (
        "overdue_before_nine",
        ChecklistItem("ppc_prelim", D(2026, 10, 17), True, overdue=True),
        datetime(2026, 11, 22, 8, 0, tzinfo=JST),
        (datetime(2026, 11, 22, 9, 0, tzinfo=JST), datetime(2026, 11, 23, 9, 0, tzinfo=JST)),
    ),
    (
        "overdue_after_nine",
        ChecklistItem("ppc_final", D(2026, 11, 11), True, overdue=True),
        datetime(2026, 11, 22, 10, 0, tzinfo=JST),
        (datetime(2026, 11, 23, 9, 0, tzinfo=JST), datetime(2026, 11, 24, 9, 0, tzinfo=JST)),
    ),
    (
        "past_due_without_flag",  # a stored item re-scheduled after its date: same rule
        ChecklistItem("ppc_final", D(2026, 11, 11), True),
        datetime(2026, 11, 22, 10, 0, tzinfo=JST),
        (datetime(2026, 11, 23, 9, 0, tzinfo=JST), datetime(2026, 11, 24, 9, 0, tzinfo=JST)),
    ),
]


@pytest.mark.parametrize(
    ("item", "now", "expected"),
    [row[1:] for row in OVERDUE_REMINDER_TABLE],
    ids=[row[0] for row in OVERDUE_REMINDER_TABLE],
)
def test_incident_reminders_for_an_overdue_item_start_now(item, now, expected):
    """An overdue report is reminded at the next two 09:00 JST from now."""
    assert reminder_times(item, now=now) == expected


def test_incident_checklist_marks_passed_dates_overdue():
    """Found 2026-10-13, lost laptop, asked on 11/22: the preliminary (10/17) and 30-day final
    (11/11) items are overdue (規則8条1項・2項, counted by hand); the items keep their dates."""
    f = facts(kind="lost_device", discovered_at=datetime(2026, 10, 13, 9, 0, tzinfo=JST))
    det = ppc_determination(f)
    dl = deadlines(f, det, today=D(2026, 11, 22))
    items = {i.id: i for i in checklist(f, det, dl, mynumber_determination(f))}
    assert (items["ppc_prelim"].due, items["ppc_prelim"].overdue) == (D(2026, 10, 17), True)
    assert (items["ppc_final"].due, items["ppc_final"].overdue) == (D(2026, 11, 11), True)
    assert dl.final_due_alt == D(2026, 12, 11) and not dl.final_alt_passed


CARD_HACK_STEPS = (
    "card_tell_psp_acquirer_now",
    "card_stop_card_handling",
    "card_maintenance_page_from_other_server",
    "card_keep_files_and_server_running",
    "card_pfi_investigation",
)


@pytest.mark.parametrize("kind", ["unauthorized_access", "ransomware", "insider"])
def test_incident_type_steps_attack_with_card_numbers_is_a_card_leak(kind):
    """Issue 9 / domain.md §5: an attack that took card numbers gets the card steps first (PSP or
    acquirer now, stop card handling, keep the evidence, PFI), then its own kind's steps."""
    steps = type_steps(facts(kind=kind, data={"names_contacts", "card_numbers"}))
    assert steps[: len(CARD_HACK_STEPS)] == CARD_HACK_STEPS
    assert len(steps) == len(set(steps))


def test_incident_checklist_attack_with_card_numbers_has_the_card_items():
    """The same hack puts "tell the payment provider", "stop card payments" and PFI on the list."""
    ids = [i.id for i in _checklist(facts(kind="unauthorized_access", data={"card_numbers"}))]
    assert ids[:2] == ["card_tell_psp", "card_stop_checkout"] and "card_pfi" in ids


@pytest.mark.parametrize(
    ("changes", "extra"),
    [
        (
            # 非保持化 [PUB audit 2026-12]: the provider may be the reporter — confirm with it.
            {"kind": "card_leak", "contractor": "yes"},
            (
                "contractor_identify_roles",
                "contractor_merchant_usually_reports",
                "contractor_report_in_writing",
                "card_provider_may_report_hedged",
            ),
        ),
        (
            # 規則9条, 法26条1項但書・2項: tell the client promptly; the client usually reports.
            {"contractor": "we_are_contractor"},
            ("we_are_contractor_tell_client_promptly", "we_are_contractor_client_usually_reports"),
        ),
    ],
)
def test_incident_type_steps_outsourcing_roles(changes, extra):
    """Where a contractor is involved, the steps say who reports and how to be released."""
    f = facts(**changes)
    assert type_steps(f)[-len(extra) :] == extra


def test_incident_checklist_contractor_tells_its_client_first():
    """規則9条: a merchant that is the contractor gets "tell your client" before any filing."""
    ids = [i.id for i in _checklist(facts(kind="insider", contractor="we_are_contractor"))]
    assert ids.index("tell_client_promptly") < ids.index("ppc_prelim")
    assert "contractor_report_in_writing" not in ids


@pytest.mark.parametrize(
    ("changes", "filing"),
    [
        ({"kind": "ransomware"}, ("ppc_online_form", "ppc_delegated_ministry")),
        ({"kind": "lost_device"}, ("ppc_online_form", "ppc_delegated_ministry")),
        ({}, ()),
        ({"data": {"my_number"}, "people": "101_to_1000"}, ("ppc_online_form", "ppc_delegated_ministry")),
    ],
)
def test_incident_filing_steps_when_a_report_is_needed(changes, filing):
    """規則8条3項 / PPC leakAction page: the online form, and the delegated ministry where it applies
    (権限の委任), whenever a report is required or advised — under APPI or the My Number rule."""
    f = facts(**changes)
    assert filing_steps(ppc_determination(f), mynumber_determination(f)) == filing


def test_incident_insurer_sompo_number_only_after_a_seed_number_and_hedged():
    """domain.md §6 2026-12: the SOMPO desk number is in no seed: hedged, after LAC's (seed 001)."""
    codes = insurer_requirements(facts(insurance="sompo"))
    assert codes.index("lac_emergency_desk_24h") < codes.index("sompo_incident_desk_24h_hedged")
    assert is_hedged("sompo_incident_desk_24h_hedged")


@pytest.mark.parametrize("insurance", ["rakuten_group", "sompo", "other", "unknown"])
def test_incident_insurer_claims_not_in_seeds_are_hedged(insurance):
    """Issue 9: a reduced payout for late notice and the 楽天 plan's consulting approval are in no
    seed (a policy-wording copy only): their codes are hedged."""
    codes = insurer_requirements(facts(insurance=insurance))
    assert "late_notice_may_reduce_payout_hedged" in codes
    assert "consulting_costs_prior_approval" not in codes


@given(any_facts)
def test_incident_no_answer_is_told_not_required_where_the_law_requires(f):
    """Issue 9's "done when", from the law text: 法26条1項 / 規則7条 require a report whenever
    personal data meets case 1 (sensitive), 2 (card number, bank/payment login), 3 (an attack,
    ransomware, insider, card leak) or 4 (over 1,000), unless 7条1号's strong encryption protects
    it — which domain.md (2026-12) allows only for a lost device or a mis-sent file. The My Number
    rule (2025-04-01) likewise for improper purpose or more than 100 people."""
    personal = (
        f.data
        & {
            "names_contacts",
            "card_numbers",
            "card_last4_expiry",
            "account_passwords",
            "other_logins",
            "my_number",
            "sensitive",
        }
        or f.kind == "card_leak"
    )
    case = (
        "sensitive" in f.data
        or f.data & {"card_numbers", "account_passwords"}
        or f.kind in {"unauthorized_access", "ransomware", "insider", "card_leak"}
        or f.people == "over_1000"
    )
    exemptable = f.encrypted == "yes" and f.kind in {"lost_device", "missent"}
    if personal and case and not exemptable:
        assert ppc_determination(f).status != "not_required"
    mn_case = f.kind in {"unauthorized_access", "ransomware", "insider", "card_leak"} or f.people in {
        "101_to_1000",
        "over_1000",
    }
    if "my_number" in f.data and mn_case and not exemptable:
        assert mynumber_determination(f).status != "not_required"
