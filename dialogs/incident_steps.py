"""Pure advice of the incident dialog: first aid, per-kind steps and insurer requirements.

Responsibility: choose which advice CODES apply to an incident; templates hold the words.
Hedging follows `dialogs.incident_rules`: a code ending in ``_hedged`` must be hedged.
`type_steps` never repeats a `first_aid_steps` code, so a screen may show both lists.
"""

from __future__ import annotations

from dialogs.incident_rules import IncidentFacts, is_card_case

# Common first steps for every kind, most urgent first.
FIRST_AID = (
    "tell_management_set_up_team",  # [PUB IPA 手引き step 1]
    "isolate_from_network",  # [PUB IPA step 1; police]
    "do_not_power_off_or_wipe",  # [PUB IPA: 電源を切る等…記録を消さない; police]
    "keep_logs_and_screenshots",  # [PUB IPA step 3 証拠保全; JPCERT/CC logs]
    "write_down_timeline",  # [PUB IPA 5W1H; JPCERT/CC needs timestamps]
    "do_not_pay_ransom_hedged",  # [PUB vendors; UNVERIFIED as official policy]
    "do_not_admit_liability",  # [PUB insurer conditions: no admission without approval]
)

_KIND_STEPS: dict[str, tuple[str, ...]] = {
    # §5 [PUB gmo-aozora, cardservice, ec-cube.systemfriend, pcf.co.jp]
    "card_leak": (
        "card_tell_psp_acquirer_now",
        "card_stop_card_handling",
        "card_maintenance_page_from_other_server",
        "card_keep_files_and_server_running",  # don't delete suspicious files / shut down
        "card_pfi_investigation",
        "police_cybercrime_desk",  # [PUB IPA step 2: 犯罪性 → 警察]
        "ipa_cs_support",  # [PUB IPA step 2: 不正アクセス → IPA; cs-support since 2025-04]
    ),
    # §4.2 [PUB 福井県警; vendors; JPCERT/CC FAQ]
    "ransomware": (
        "ransom_unplug_cable_and_wifi_keep_power",
        "ransom_keep_network_devices_powered",  # VPN/FW logs may live only in memory
        "ransom_photograph_note",
        "evidence_forensics_vendor",  # [PUB IPA step 3; defer to vendor/insurer desk]
        "police_cybercrime_desk",  # online 通報 since 2024-03-29; 被害届 at the station
        "ipa_cs_support",
        "ransom_decryptors_no_more_ransom_hedged",  # decryptability case by case
    ),
    # §2.1 [PUB guideline 3-5-1 via blog: recovered unviewed → not a 漏えい]; the delete request
    # and record are common practice (IPA 対応ポイント集 has a 誤送信 chapter, content not in
    # domain.md).
    "missent": (
        "missent_ask_recipient_delete_confirm_in_writing",
        "missent_record_what_when_whom",
        "missent_recovered_unviewed_may_not_be_leak_hedged",
    ),
    # §4.1 [PUB IPA 対応ポイント集 紛失・盗難; police]; record before any remote wipe.
    "lost_device": (
        "lost_police_report",
        "lost_establish_theft_or_loss",  # theft → 規則7条3号 applies
        "lost_record_device_and_data",
        "lost_remote_wipe_after_recording",
        "lost_change_passwords",
    ),
    # domain.md has no insider-specific procedure: keep generic, hedge the tactics.
    "insider": (
        "insider_preserve_logs",
        "insider_restrict_access",
        "insider_evidence_before_confronting_hedged",
        "insider_discovery_excludes_insider_hedged",  # [PUB ppc faq7-q3-4-1, public bodies]
        "police_consult",  # [PUB IPA step 2: 犯罪性 → 警察]
    ),
    # §4.1, §4.3 [PUB IPA; police]
    "unauthorized_access": (
        "access_save_server_logs",
        "access_change_credentials_after_evidence",
        "evidence_forensics_vendor",
        "police_cybercrime_desk",
        "ipa_cs_support",
    ),
    "other": ("other_record_facts_5w1h", "ipa_cs_support"),  # [PUB IPA step 3: 5W1H]
}

# [LAW 法26条1項但書・規則9条; PUB businesslawyers 1165]: both may be obliged; a contractor
# that notifies the entruster is released; a merchant whose PSP/cart vendor leaked usually
# remains the reporter.
_CONTRACTOR_STEPS = (
    "contractor_identify_roles",
    "contractor_merchant_usually_reports",
    "contractor_report_in_writing",
)
# [LAW 規則9条, 法26条1項但書・2項]: a contractor that tells its client (委託元) promptly, with the
# report items, is released from the Commission report and from notifying the people affected;
# the client usually reports.
_WE_ARE_CONTRACTOR_STEPS = (
    "we_are_contractor_tell_client_promptly",
    "we_are_contractor_client_usually_reports",
)
# Card cases: card-specific steps when an attack took card numbers, not only for "card leak".
_CARD_STEPS = (
    "card_tell_psp_acquirer_now",
    "card_stop_card_handling",
    "card_maintenance_page_from_other_server",
    "card_keep_files_and_server_running",
    "card_pfi_investigation",
)

TYPE_STEP_CODES = tuple(
    dict.fromkeys(
        [
            *(code for steps in _KIND_STEPS.values() for code in steps),
            "card_rakuten_check_rms_terms_hedged",
            "card_provider_may_report_hedged",
            "contractor_check_involvement",
            *_CONTRACTOR_STEPS,
            *_WE_ARE_CONTRACTOR_STEPS,
        ]
    )
)

INSURER_CODES = (
    "insurer_notify_now_in_writing",
    "late_notice_may_reduce_payout_hedged",
    "ms_accident_desk_24h",
    "rakuten_agent_desk",
    "sompo_incident_desk_24h_hedged",
    "sompo_support_service_japan_only",
    "insurer_desk_check_policy",
    "insurance_find_policy",
    "publication_requirement_4_routes",
    "publication_requirement_check_policy_hedged",
    "keep_copy_of_every_filing_hedged",
    "expense_window_180_days_hedged",
    "expense_window_check_policy_hedged",
    "keep_receipts_for_every_cost",
    "consulting_costs_prior_approval_hedged",
    "litigation_costs_prior_approval",
    "prior_approval_check_policy_hedged",
    "mimaikin_up_to_1000_yen_per_person",
    "mimaikin_ask_insurer_first",
    "no_admission_or_settlement_without_insurer",
    "fines_not_insurable",
    "no_insurer",
    "lac_emergency_desk_24h",
    "ipa_cs_support",
)


def first_aid_steps() -> tuple[str, ...]:
    """Return the first steps every incident shares, most urgent first."""
    return FIRST_AID


def type_steps(facts: IncidentFacts) -> tuple[str, ...]:
    """Return the steps specific to the kind of incident, then contractor steps."""
    steps = list(_KIND_STEPS[facts.kind])
    card = is_card_case(facts)
    if card and facts.kind != "card_leak":  # a hack that took card numbers is a card leak
        steps[:0] = _CARD_STEPS
    if card and facts.insurance == "rakuten_group":
        # Only Rakuten shops can hold this scheme [SEED:000]; since 2005 Rakuten processes
        # card numbers itself, current RMS flows and duties are [UNVERIFIED] (§5).
        steps.append("card_rakuten_check_rms_terms_hedged")
    if facts.contractor == "unknown":
        steps.append("contractor_check_involvement")
    if facts.contractor in ("yes", "unknown"):
        steps.extend(_CONTRACTOR_STEPS)
        if card:
            # [PUB audit 2026-12; UNVERIFIED per case] 非保持化: the provider may be the reporter.
            steps.append("card_provider_may_report_hedged")
    if facts.contractor == "we_are_contractor":
        steps.extend(_WE_ARE_CONTRACTOR_STEPS)
    return tuple(dict.fromkeys(steps))


def insurer_requirements(facts: IncidentFacts) -> tuple[str, ...]:
    """Return what the merchant's insurer expects, tailored to the insurance answer."""
    if facts.insurance == "none":
        # [SEED:001] LAC サイバー救急センター 24h; [PUB] IPA cs-support.
        return ("no_insurer", "lac_emergency_desk_24h", "ipa_cs_support")
    # [PUB policy wording 第26条] notice 遅滞なく, in writing; circumstances count too.
    codes = [] if facts.insurance != "unknown" else ["insurance_find_policy"]
    codes.append("insurer_notify_now_in_writing")
    # [PUB policy wording copy 第26条, not a seed] → "may, check your policy".
    codes.append("late_notice_may_reduce_payout_hedged")
    if facts.insurance == "rakuten_group":
        codes += [
            "ms_accident_desk_24h",  # [SEED:000] 0120-258-189, 24h
            "rakuten_agent_desk",  # [SEED:000] 0120-994-294, 9:00–18:00
            "publication_requirement_4_routes",  # [SEED:000] 公表要件
            "keep_copy_of_every_filing_hedged",  # [UNVERIFIED] PPC web form = 文書?
            "expense_window_180_days_hedged",  # [SEED:000]; day-count [UNVERIFIED]
            "keep_receipts_for_every_cost",  # [PUB MS claim documents]
            "consulting_costs_prior_approval_hedged",  # [PUB MS wording, not seed 000]
            "mimaikin_up_to_1000_yen_per_person",  # [SEED:000]
            "mimaikin_ask_insurer_first",  # [PUB Tokio Marine: 書面による同意]
        ]
    elif facts.insurance == "sompo":
        codes += [
            # [SEED:001] LAC's desk first; the SOMPO desk number is only on a third-party page
            # [PUB jnx; domain.md §6 2026-12]: hedged, after the seed numbers, never alone.
            "lac_emergency_desk_24h",
            "sompo_incident_desk_24h_hedged",
            "sompo_support_service_japan_only",  # [SEED:002] payable incidents, in Japan
            "expense_window_check_policy_hedged",
            "keep_receipts_for_every_cost",  # [PUB]
            "litigation_costs_prior_approval",  # [SEED:003] 争訟費用 事前承認
            "mimaikin_ask_insurer_first",  # [PUB Tokio Marine: 書面による同意]
        ]
    else:  # other insurer, or not sure whether insured
        codes += [
            "insurer_desk_check_policy",
            "publication_requirement_check_policy_hedged",
            "expense_window_check_policy_hedged",
            "keep_receipts_for_every_cost",  # [PUB]
            "prior_approval_check_policy_hedged",  # lawyers, consulting [SEED:003; PUB MS]
            "mimaikin_ask_insurer_first",  # [PUB]
        ]
    codes += [
        "no_admission_or_settlement_without_insurer",  # [PUB Sompo wording copy]
        "fines_not_insurable",  # [SEED:002]; 課徴金等 excluded [SEED:003]
    ]
    return tuple(codes)
