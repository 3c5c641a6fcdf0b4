"""Handing a conversation to people: the words that ask for one, and what to say about staff hours.

The mechanics (tickets, topics, relaying) live in bot/handoff.py; this module stays pure.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dialogs.forms import normalise
from dialogs.office_hours import OfficeHours, closed_reason, next_open
from dialogs.words import TRIGGER_WORDS

# Words that ask for a person, at any step: dialogs/words.toml.
STAFF_WORDS = TRIGGER_WORDS["staff"]


_FOLDED_STAFF_WORDS = tuple(normalise(word) for word in STAFF_WORDS)


def wants_staff(text: str) -> bool:
    folded = normalise(text)
    return any(word in folded for word in _FOLDED_STAFF_WORDS)


def availability(hours: OfficeHours, now: datetime) -> dict:
    """For the template: are staff on duty, and if not, why and when they are back."""
    reason = closed_reason(hours, now)
    return {
        "open_now": reason is None,
        "closed_reason": reason,
        "back_at": None if reason is None else next_open(hours, now).isoformat(),
    }


def no_answer_at(hours: OfficeHours, now: datetime, wait: timedelta) -> datetime:
    """When to tell a user nobody has answered: `wait` into staff's next working time."""
    return max(now, next_open(hours, now)) + wait
