"""Sample parameters for rendering every template in tests: one plausible value per name."""

from __future__ import annotations

from datetime import date

from rates.pricing import QuoteRequest, quote
from rates.tables import load_rates

_BOOK = load_rates()
_QUOTE = quote(
    _BOOK, QuoteRequest(300_000_000, "retail", frozenset({"rakuten", "own_ec"}), date(2026, 11, 22))
)

COMMON = {
    "answers": {"revenue_yen": 300_000_000, "industry": "retail", "channels": ["rakuten"]},
    "pending": ["rakuten", "own_ec"],
    "first_contact": True,
    "code": "unrecognized",
    "fragment": "abc",
    "q": _QUOTE.to_json(),
    "ref": "Q-20261122-0001",
    "quotes": [
        {
            "ref": "Q-20261122-0001",
            "created_at": "2026-11-22T01:00:00+00:00",
            "quote": _QUOTE.to_json(),
        }
    ],
    "command": "frobnicate",
    "dialog": "quote",
    "tables": _BOOK.products,
    "declines": _BOOK.declines,
    "option": "--industry",
    "value": "bogus",
    "allowed": ("retail", "wholesale"),
    "incident_ref": "I-20261122-0001",
    "staff_notified": True,
}

# Parameters that switch a template between texts: every branch must render.
VARIANTS = {
    "common/amount_error": [
        {"code": c}
        for c in (
            "empty",
            "too_long",
            "negative",
            "too_large",
            "fraction",
            "ambiguous",
            "unrecognized",
        )
    ],
    "quote/revenue_invalid": [
        {"code": c}
        for c in (
            "empty",
            "too_long",
            "negative",
            "too_large",
            "fraction",
            "ambiguous",
            "unrecognized",
        )
    ],
    "quote/channels_invalid": [{"code": "none_selected"}, {"code": "unknown"}],
    "quote/mine": [{"quotes": []}, {}],
    "menu/start": [{"first_contact": True}, {"first_contact": False}],
    "incident/first_aid": [{"staff_notified": True}, {"staff_notified": False}],
}


def sample_params(key: str) -> dict:
    return dict(COMMON)


def variants(key: str) -> list[dict]:
    return VARIANTS.get(key, [{}])
