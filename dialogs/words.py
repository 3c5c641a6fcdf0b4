"""The trigger words of dialogs/words.toml, and how a typed message is read with them.

`read_intent` is pure: it says where a message points (the incident help, the quote, the FAQ, or
the one-tap question "has this happened to you?"); bot/turn.py decides whether to follow it.
"""

import tomllib
import unicodedata
from pathlib import Path

with (Path(__file__).resolve().parent / "words.toml").open("rb") as _file:
    TRIGGER_WORDS: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in tomllib.load(_file).items()}

INCIDENT = "incident"  # the incident help
QUOTE = "quote"  # a question about a price
FAQ = "faq"  # a question about cover
UNSURE = "happened"  # ask in one tap whether it happened

# A bare incident word ("漏えい", "data leak?") leaves at most this many other characters.
_BARE_REST = 4


def fold(text: str) -> str:
    """Width and case folded, each run of spaces made one, so "ＬＯＳＴ  my" reads "lost my"."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _fold_word(word: str) -> str:
    """A listed word folded like a message, keeping a space at either end (a word boundary)."""
    core = fold(word)
    return (" " if word.startswith(" ") else "") + core + (" " if word.endswith(" ") else "")


_FOLDED = {group: tuple(_fold_word(w) for w in words) for group, words in TRIGGER_WORDS.items()}


def _has(text: str, group: str) -> bool:
    """Japanese entries match with spaces ignored ("漏えい した"); English ones word by word."""
    squeezed = text.replace(" ", "")
    return any(word in (text if word.isascii() else squeezed) for word in _FOLDED[group])


def _bare(text: str) -> bool:
    """Only an incident word and punctuation: it names a topic, it does not say what happened."""
    rest = text
    for word in sorted(_FOLDED[INCIDENT], key=len, reverse=True):
        rest = rest.replace(word, "")
    rest = "".join(c for c in rest if c.isalnum())  # "data leak?" leaves "data"
    return len(rest) <= _BARE_REST


def read_intent(text: str) -> str | None:
    """Where a typed message points: INCIDENT, QUOTE, FAQ, UNSURE, or None (no trigger word)."""
    # Punctuation becomes space, and spaces pad the ends: " cover" and "lost my " match anywhere.
    spaced = "".join(c if c.isalnum() or c in "'" else " " for c in fold(text))
    folded = f" {' '.join(spaced.split())} "
    named = _has(folded, INCIDENT)
    event = _has(folded, "event") or (named and _has(folded, "happened"))
    asks = _has(folded, "question") or _has(folded, QUOTE)
    if event and not (asks and _has(folded, "hypothetical")):
        return INCIDENT
    topic = event or named
    if topic and asks:
        return QUOTE if _has(folded, QUOTE) else FAQ
    if topic:
        return UNSURE if _bare(folded) else INCIDENT
    return None
