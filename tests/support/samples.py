"""Sample parameters for rendering every template in tests, produced by the real hooks."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

from dialogs.incident import assess
from dialogs.steps import Context
from rates.pricing import QuoteRequest, quote
from rates.tables import load_rates

_NOW = datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
_BOOK = load_rates()
_QUOTE = quote(
    _BOOK, QuoteRequest(300_000_000, "retail", frozenset({"rakuten", "own_ec"}), date(2026, 11, 22))
)
_SAVED_QUOTE = {
    "ref": "Q-20261122-0001",
    "created_at": "2026-11-22T01:00:00+00:00",
    "quote": _QUOTE.to_json(),
}


def incident_view(**answers) -> dict:
    """What the incident dialog hands its templates, from the real assess() hook."""
    base = {
        "opened": {"opened_at": _NOW.isoformat(), "incident_ref": "I-20261122-0001"},
        "kind": "card_leak",
        "discovered_at": "yesterday",
        "data": ["names_contacts", "card_numbers", "my_number"],
        "people": "101_to_1000",
        "encrypted": "unknown",
        "contractor": "yes",
        "insurance": "rakuten_group",
    }
    computed = assess({**base, **answers}, Context(_NOW, "ja", "console:test"))
    record = next(e.payload["record"] for e in computed.effects if e.kind == "save_incident")
    return json.loads(json.dumps(record))  # as stored: plain JSON


_INCIDENT = {"ref": "I-20261122-0001", **incident_view()}

COMMON = {
    "answers": {
        "revenue_yen": 300_000_000,
        "industry": "retail",
        "channels": ["rakuten"],
        "result": {"quote": _QUOTE.to_json(), "ref": "Q-20261122-0001"},
    },
    "answered": ["revenue_yen"],
    "word": "アパレル",
    "candidates": ("manufacturing", "retail"),
    "product": "rakuten_group",
    "since": date(2023, 8, 1),
    "date": date(2023, 1, 1),
    "pending": ["rakuten", "own_ec"],
    "first_contact": True,
    "code": "unrecognized",
    "fragment": "abc",
    "q": _QUOTE.to_json(),
    "ref": "Q-20261122-0001",
    "quotes": [_SAVED_QUOTE],
    "command": "frobnicate",
    "dialog": "quote",
    "tables": _BOOK.products,
    "declines": _BOOK.declines,
    "option": "--industry",
    "value": "bogus",
    "allowed": ("retail", "wholesale"),
    "incident_ref": "I-20261122-0001",
    "staff_notified": True,
    "staff_told": True,
    "how": "withdrawn",
    # incident templates
    **_INCIDENT,
    "items": _INCIDENT["checklist"],
    "item": _INCIDENT["checklist"][0],
    # handoff and staff templates
    "open_now": False,
    "closed_reason": "weekend",
    "back_at": "2026-11-24T09:00:00+09:00",
    "has_incident": True,
    "user_name": "Taro <b>Yamada</b>",
    "lang": "ja",
    "channel": "telegram",
    "quote": _SAVED_QUOTE,
    "incident": _INCIDENT,
    "transcript": [{"at": "2026-11-22T01:00:00+00:00", "speaker": "user", "text": "3億"}],
    "was_open": True,
    "conversation": "telegram:42",
}

_TYPED = {"at": "2026-11-20T14:30:00+09:00", "typed": "11/20 14:30", "year_guessed": False}
_GUESSED = {"at": "2025-12-25", "typed": "12/25", "year_guessed": True}
_GUESSED_TIME = {"at": "2025-12-25T21:00:00+09:00", "typed": "12/25 21:00", "year_guessed": True}
_FORTY_DAYS_AGO = {"at": "2026-10-13", "typed": "40日前", "year_guessed": False}
_AMOUNT_CODES = ("empty", "too_long", "negative", "too_large", "fraction", "ambiguous", "unrecognized")
_WHEN_CODES = ("empty", "too_long", "unrecognized", "future", "too_old", "bad_date", "bad_time")

# Parameters that switch a template between texts: every branch must render.
VARIANTS = {
    "common/amount_error": [{"code": c} for c in _AMOUNT_CODES],
    "quote/revenue_invalid": [{"code": c} for c in _AMOUNT_CODES],
    "quote/channels_invalid": [{"code": "none_selected"}, {"code": "unknown"}],
    "incident/data_invalid": [{"code": "none_selected"}, {"code": "unknown"}],
    "incident/discovered_invalid": [{"code": c, "fragment": "明後日"} for c in _WHEN_CODES],
    "incident/discovered_year_invalid": [
        {"code": c, "fragment": "2025-2-30", "typed": "12/25"} for c in (*_WHEN_CODES, "need_year")
    ],
    "incident/data": [
        {},
        {"answers": {"discovered_at": _TYPED}},
        {"answers": {"discovered_at": _GUESSED, "discovered_year": "yes"}},
        {"answers": {"discovered_at": _GUESSED, "discovered_year": _TYPED}},
    ],
    "incident/discovered_year": [
        {"answers": {"discovered_at": _GUESSED}},
        {"answers": {"discovered_at": _GUESSED_TIME}},
    ],
    "quote/mine": [{"quotes": []}, {}],
    "menu/start": [{"first_contact": True}, {"first_contact": False}],
    "incident/first_aid": [{"staff_notified": True}, {"staff_notified": False}],
    "handoff/opened": [{"open_now": True, "has_incident": False}, {}],
    "handoff/no_answer": [{"has_incident": False}, {}],
    "staff/closed": [{"was_open": False}, {}],
    "staff/ticket_header": [{"quote": None, "incident": None, "transcript": []}, {}],
    "staff/latest_quote": [{"quote": None}, {}],
    "staff/latest_incident": [
        {"incident": None},
        {"incident": {"ref": "I-20261122-0002", "opened_at": "x"}},
        {},
    ],
    "incident/assessment": [
        {},
        incident_view(
            kind="missent",
            data=["names_contacts"],
            people="up_to_100",
            encrypted="no",
            contractor="no",
            insurance="none",
            discovered_at="unknown",
        ),
        incident_view(kind="ransomware", data=["unknown"], people="unknown", insurance="sompo"),
        incident_view(kind="lost_device", discovered_at=_FORTY_DAYS_AGO, data=["my_number"]),
        incident_view(kind="missent", encrypted="yes", contractor="we_are_contractor"),
    ],
    "incident/checklist": [{}, {"items": incident_view(discovered_at=_FORTY_DAYS_AGO)["checklist"]}],
    "incident/reminder": [{}, {"item": {**_INCIDENT["checklist"][0], "overdue": True, "due": "2026-10-17"}}],
    "incident/document": [
        {},
        incident_view(kind="lost_device", discovered_at=_FORTY_DAYS_AGO),
        incident_view(kind="missent", encrypted="yes", contractor="we_are_contractor"),
    ],
    "staff/incident_summary": [{}, incident_view(kind="lost_device", discovered_at=_FORTY_DAYS_AGO)],
}


# Where a name means something else for one template.
PER_KEY = {
    "incident/data": {"pending": ["names_contacts", "unknown"]},
}


def sample_params(key: str) -> dict:
    return {**COMMON, **PER_KEY.get(key, {})}


def variants(key: str) -> list[dict]:
    return VARIANTS.get(key, [{}])
