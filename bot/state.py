"""The conversation state as it is saved: plain JSON, versioned.

    {"v": 1, "lang": "ja", "active": "quote", "suspended": ["quote"],
     "forms": {"quote": {"slots": {...}, "pending": {"channels": ["rakuten"]}}}}

`active` is the dialog the user is in, `suspended` the unfinished dialogs set aside (a quote
interrupted by an incident), `forms` each dialog's answers and half-ticked multi-selects.
"""

from __future__ import annotations

STATE_VERSION = 1
HOME = "menu"  # the dialog a conversation rests in when nothing else is going on
DONE = "done"  # the extra option that closes a multi-select
RESUME = "resume"  # the extra option on a finished dialog's menu when another one is waiting


def new_state(locale_hint: str | None) -> dict:
    lang = "en" if (locale_hint or "").lower().startswith("en") else "ja"
    return {"v": STATE_VERSION, "lang": lang, "active": HOME, "suspended": [], "forms": {}}


def parse_command(text: str) -> tuple[str, str]:
    """ "/start@quote_bot now" → ("start", "now")."""
    head, _, args = text.strip()[1:].partition(" ")
    return head.split("@", 1)[0].lower(), args.strip()
