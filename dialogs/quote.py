"""The quote dialog: revenue → industry → sales channels → offers, then what to do next.

```mermaid
flowchart LR
  revenue -->|parsed yen| industry --> channels -->|done| result --> next
  next -->|change one answer| revenue & industry & channels
  next -->|start over| revenue
```
"""

from __future__ import annotations

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
    Goto,
    Invalid,
    Menu,
    MultiChoose,
    Restart,
    Say,
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


def price(answers: Slots, context: Context) -> Computed:
    """Price the answers from the rate tables and have the engine save the quote."""
    request = QuoteRequest(
        revenue_yen=answers["revenue_yen"],
        industry=answers["industry"],
        channels=frozenset(answers["channels"]),
        applied_on=context.now.date(),
    )
    result = quote(context.data["rates"], request).to_json()
    return Computed(
        value={},
        say=(Say("quote/result", {"q": result}),),
        effects=(Effect("save_quote", {"quote": result}),),
    )


NEXT_ACTIONS = {
    "change_revenue": Clear(("revenue_yen",)),
    "change_industry": Clear(("industry",)),
    "change_channels": Clear(("channels",)),
    "start_over": Restart(),
    "staff": Command("staff"),
    "incident": Goto("incident"),
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
        Choose("industry", options=INDUSTRIES, labels="industry", slot="industry"),
        MultiChoose("channels", options=CHANNELS, labels="channel", slot="channels"),
        Compute("result", run=price, slot="result"),
        Menu("next", options=tuple(NEXT_ACTIONS), actions=NEXT_ACTIONS),
    ),
)
