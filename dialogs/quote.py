"""The quote dialog: revenue → industry → sales channels → offers, then what to do next.

```mermaid
flowchart LR
  revenue -->|parsed yen| revenue_check{{"under 100万 or over 1兆: read it back"}} --> industry
  revenue -->|plausible| industry
  industry -->|typed words: industries.toml| channels -->|done| result["compact, then buttons"] --> next
  next -->|details · conditions · how to apply| next
  next -->|change one answer| revenue & industry & channels
  next -->|start over| revenue
```
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from dialogs.forms import normalise
from dialogs.steps import (
    Ask,
    Choose,
    Clear,
    Command,
    Compute,
    Computed,
    Context,
    Dialog,
    Effect,
    Invalid,
    Menu,
    MultiChoose,
    Restart,
    Say,
    Show,
    Slots,
)
from rates.amounts import AmountError, parse_yen
from rates.codes import CHANNELS, INDUSTRIES
from rates.pricing import QuoteRequest, quote


def parse_revenue(text: str, context: Context | None = None) -> int:
    """Yen as people type it (see rates/amounts.py), or Invalid naming what was not understood."""
    try:
        return parse_yen(text)
    except AmountError as e:
        raise Invalid(e.code, fragment=e.fragment[:40]) from None


# Revenue outside this range is read back before it is used ("5000" may mean 5,000万円).
PLAUSIBLE_REVENUE = (1_000_000, 10**12)


def implausible_revenue(answers: Slots) -> bool:
    low, high = PLAUSIBLE_REVENUE
    return not low <= answers["revenue_yen"] <= high


def _load_industry_words() -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    with (Path(__file__).resolve().parent / "industries.toml").open("rb") as f:
        data = tomllib.load(f)
    words = {normalise(w): code for code, listed in data["words"].items() for w in listed}
    ambiguous = {normalise(w): tuple(codes) for w, codes in data["ambiguous"].items()}
    for code in (*words.values(), *(c for codes in ambiguous.values() for c in codes)):
        if code not in INDUSTRIES:
            raise ValueError(f"dialogs/industries.toml: unknown industry code {code!r}")
    return words, ambiguous


INDUSTRY_WORDS, AMBIGUOUS_INDUSTRY = _load_industry_words()


def _mentions(typed: str, word: str) -> bool:
    """Japanese words anywhere; Latin ones as whole words ("it" is not in "hospitality")."""
    if not word.isascii():
        return word in typed
    return re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", typed) is not None


def parse_industry(text: str, context: Context | None = None) -> str:
    """An industry typed in the words people use (ネットショップ, EC, 飲食店...), or Invalid:
    "ambiguous" (アパレル: maker or shop?) names the codes to choose from, "unknown" otherwise."""
    typed = normalise(text)
    found = [(w, code) for w, code in INDUSTRY_WORDS.items() if _mentions(typed, w)]
    unclear = [(w, codes) for w, codes in AMBIGUOUS_INDUSTRY.items() if _mentions(typed, w)]
    longest = max((len(w) for w, _ in found), default=0)
    if unclear and max(len(w) for w, _ in unclear) >= longest:
        codes = max(unclear, key=lambda item: len(item[0]))[1]
        raise Invalid("ambiguous", word=text.strip()[:20], candidates=codes)
    codes = {code for w, code in found if len(w) == longest}
    if len(codes) == 1:
        return codes.pop()
    raise Invalid("unknown")


def price(answers: Slots, context: Context) -> Computed:
    """Price the answers from the rate tables and have the engine save the quote."""
    request = QuoteRequest(
        revenue_yen=answers["revenue_yen"],
        industry=answers["industry"],
        channels=frozenset(answers["channels"]),
        applied_on=context.now.date(),
    )
    result = quote(context.data["rates"], request).to_json()
    # The compact result first; the full text (quote/result) is a button away, and the saved
    # quote is the whole result.
    return Computed(
        value={"quote": result},
        say=(Say("quote/summary", {"q": result}),),
        effects=(Effect("save_quote", {"quote": result}),),
    )


NEXT_ACTIONS = {
    "details": Show("quote/details"),
    "conditions": Show("quote/conditions"),
    "apply": Show("quote/apply"),
    "change_revenue": Clear(("revenue_yen",)),
    "change_industry": Clear(("industry",)),
    "change_channels": Clear(("channels",)),
    "start_over": Restart(),
    "staff": Command("staff"),
}

QUOTE = Dialog(
    "quote",
    steps=(
        Ask(
            "revenue",
            parse=parse_revenue,
            slot="revenue_yen",
            examples=("3億", "売上は3億円", "50万", "2兆円", "1億2,345万円"),
        ),
        Choose(
            "revenue_check",
            options=("yes",),
            labels="revenue_check",
            slot="revenue_checked",
            ask_if=implausible_revenue,
            actions={"retype_revenue": Clear(("revenue_yen",))},
        ),
        Choose(
            "industry",
            options=INDUSTRIES,
            labels="industry",
            slot="industry",
            parse=parse_industry,
            examples=("ネットショップ", "アパレル", "飲食店"),
        ),
        MultiChoose("channels", options=CHANNELS, labels="channel", slot="channels"),
        Compute("result", run=price, slot="result"),
        Menu("next", options=tuple(NEXT_ACTIONS), actions=NEXT_ACTIONS),
    ),
)
