"""Table tests for the pure incident rules; every expected date is written by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    # id, changes, status, exempt, reasons
    (
        "attack_encrypted",
        {"kind": "unauthorized_access", "encrypted": "yes"},
        "not_required",
        True,
        ("encryption_exempt_if_keys_safe_hedged", "individual_notice_recommended"),
    ),
    (
        "sensitive_encrypted",
        {"data": {"sensitive"}, "encrypted": "yes"},
        "not_required",
        True,
        ("encryption_exempt_if_keys_safe_hedged", "individual_notice_recommended"),
    ),
    (
        "people_unknown_encrypted",
        {"people": "unknown", "encrypted": "yes"},
        "not_required",
        True,
        (
            "people_unknown",
            "encryption_exempt_if_keys_safe_hedged",
            "individual_notice_recommended",
        ),
    ),
    (
        "card_leak_encrypted_is_not_exempt",
        {"kind": "card_leak", "data": {"card_numbers"}, "encrypted": "yes"},
        "required",
        False,
        ("card_leak_treated_as_attack", "encryption_not_relied_on_card_leak_hedged"),
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
    """Strong encryption of all data exempts (hedged on the keys), except card skimming."""
    det = ppc_determination(facts(**changes))
    assert (det.status, det.exempt_by_encryption, det.reasons) == (status, exempt, reasons)


def test_incident_ppc_encryption_keeps_the_matched_cases():
    """The exempt determination still lists the cases the facts matched."""
    det = ppc_determination(facts(kind="unauthorized_access", encrypted="yes"))
    assert det.cases == ("improper_purpose",)


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
    # id, changes, status, reasons
    ("up_to_100_missent", {}, "not_required", ("mn_report_if_exposed_online",)),
    ("101_to_1000", {"people": "101_to_1000"}, "required", ("mn_over_100_people_hedged",)),
    ("over_1000", {"people": "over_1000"}, "required", ("mn_over_100_people_hedged",)),
    ("people_unknown", {"people": "unknown"}, "advised", ("mn_people_unknown_hedged",)),
    ("improper_purpose", {"kind": "ransomware"}, "required", ("mn_improper_purpose",)),
    (
        "improper_and_over_100",
        {"kind": "insider", "people": "101_to_1000"},
        "required",
        ("mn_improper_purpose", "mn_over_100_people_hedged"),
    ),
    ("lost_device", {"kind": "lost_device"}, "advised", ("mn_improper_purpose_unclear",)),
    (
        "encrypted_not_exempt",
        {"people": "101_to_1000", "encrypted": "yes"},
        "required",
        ("mn_over_100_people_hedged", "mn_encryption_not_considered_hedged"),
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


def test_incident_mynumber_none_without_my_number():
    """No My Number in the data means no My Number determination at all."""
    assert mynumber_determination(facts(people="over_1000")) is None


@pytest.mark.parametrize(
    ("people", "advice"),
    [
        ("up_to_100", ("mn_form_q1_answer_yes", "mn_municipality_number_change")),
        (
            "101_to_1000",
            (
                "mn_form_q1_answer_yes",
                "mn_municipality_number_change",
                "mn_deadlines_like_appi_hedged",
            ),
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
            "ms_accident_desk_24h",
            "rakuten_agent_desk",
            "publication_requirement_4_routes",
            "keep_copy_of_every_filing_hedged",
            "expense_window_180_days_hedged",
            "keep_receipts_for_every_cost",
            "consulting_costs_prior_approval",
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
            "sompo_incident_desk_24h",
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
