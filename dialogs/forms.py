"""Pure bookkeeping of one dialog's answers: the next step, clearing, matching typed choices."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from dialogs.steps import Compute, Dialog, Menu, Step, is_asked

_LIST_SEPARATORS = re.compile(r"[,、，/／;；・]+")


def current_step(dialog: Dialog, slots: Mapping) -> Step:
    """The first step whose slot is still empty; a Menu always stops the walk."""
    for step in dialog.steps:
        if isinstance(step, Menu) or (step.slot not in slots and is_asked(step, slots)):
            return step
    raise ValueError(f"dialog {dialog.name} has no resting step")  # every dialog ends in a Menu


def is_finished(dialog: Dialog, slots: Mapping) -> bool:
    """True once every question is answered (the dialog rests on its last menu)."""
    return all(isinstance(s, Menu) or s.slot in slots or not is_asked(s, slots) for s in dialog.steps)


def is_started(dialog: Dialog, slots: Mapping) -> bool:
    return any(not isinstance(s, Menu) and s.slot in slots for s in dialog.steps)


def without(dialog: Dialog, slots: Mapping, names: Iterable[str]) -> dict:
    """The answers minus `names` and minus every computed result that came after them."""
    names = set(names)
    remaining = dict(slots)
    clearing = False
    for step in dialog.steps:
        if isinstance(step, Menu):
            continue
        if step.slot in names:
            clearing = True
            remaining.pop(step.slot, None)
        elif clearing and (isinstance(step, Compute) or getattr(step, "ask_if", None) is not None):
            remaining.pop(step.slot, None)  # a conditional answer depends on the earlier ones
    return remaining


def normalise(text: str) -> str:
    """Width, case and spacing folded, so "ＥＣ", "ec " and "EC" compare equal."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


def match_option(text: str, options: Mapping[str, Iterable[str]]) -> str | None:
    """The option a typed answer means: its number (from 1), its code, or one of its labels.

    `options` maps each option id, in display order, to its labels (every language). A
    fragment of at least two characters that belongs to exactly one label also counts.
    """
    typed = normalise(text)
    if not typed:
        return None
    ids = list(options)
    number_text = unicodedata.normalize("NFKC", text).strip()
    if number_text.isdigit() and number_text.isascii():  # "1 2" is not 12
        number = int(number_text)
        return ids[number - 1] if 1 <= number <= len(ids) else None
    for option_id, labels in options.items():
        if typed == normalise(option_id) or any(typed == normalise(label) for label in labels):
            return option_id
    if len(typed) >= 2:
        partial = {
            option_id
            for option_id, labels in options.items()
            if any(typed in normalise(label) for label in labels)
        }
        if len(partial) == 1:
            return partial.pop()
    return None


def match_many(text: str, options: Mapping[str, Iterable[str]]) -> list[str] | None:
    """Several typed choices ("1, 3", "楽天市場、自社EC", "1 3"), or None if any part is unknown.

    The whole text is tried first, so a label that contains a space still matches.
    """
    whole = match_option(text, options)
    if whole is not None:
        return [whole]
    for separators in (_LIST_SEPARATORS, re.compile(r"[\s,、，/／;；・]+")):
        parts = [p for p in separators.split(text) if p.strip()]
        if len(parts) > 1:
            matched = [match_option(p, options) for p in parts]
            if all(m is not None for m in matched):
                return list(dict.fromkeys(matched))
    return None
