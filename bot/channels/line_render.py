"""Neutral replies as LINE message objects (plain JSON dicts, as the Messaging API takes them).

LINE shows plain text: the templates' Telegram-HTML subset becomes text (`to_plain`, links
written out). Buttons:
- a reply whose buttons all fit becomes a text message with quick replies (at most 13, labels
  at most 20 characters: a longer label uses its short LINE form from the `line` label group,
  keyed by the token without its variable parts). Quick replies show under the newest message
  only, and only until the user answers: right for a question's choices.
- a multi-select (ticks on a card that stays: sales channels, incident data, the checklist) and
  anything that does not fit as quick replies becomes a Flex bubble with one button per option.
- the quote result becomes a Flex card, the plans side by side, with an altText summary, followed
  by the full text (exclusions and conditions are never left out).
Every button is a postback carrying the token (at most 300 characters) with `displayText`, so
the chat shows what was chosen. A file (the incident record) cannot be sent on LINE: the caller
gives the link that serves it, and it is sent as text with that link.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.markup import split_lines, to_plain
from dialogs.steps import MultiChoose

MAX_MESSAGES = 5  # per reply or push call
MAX_TEXT = 5000
MAX_QUICK_REPLIES = 13
MAX_QUICK_LABEL = 20
MAX_BUTTON_LABEL = 40
MAX_DATA = 300
MAX_DISPLAY_TEXT = 300
MAX_ALT_TEXT = 400  # LINE allows 1,500; the notification preview shows far less
MAX_COLUMNS = 3  # plans side by side in one bubble; more go in a carousel
QUOTE_RESULTS = ("quote/result", "quote/summary")  # the full text and the compact one
TICK = "✅ "


def line_length(text: str) -> int:
    """Length as LINE counts it (UTF-16 code units: an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int) -> str:
    if line_length(text) <= limit:
        return text
    while line_length(text) > limit - 1:
        text = text[:-1]
    return text + "…"


@dataclass(frozen=True)
class Button:
    token: str
    label: str  # plain text, as tapped


@dataclass(frozen=True)
class Card:
    """What the renderer needs of a Reply: its key, text, buttons, and whether it is a card."""

    key: str
    text: str
    choices: tuple[Button, ...] = ()
    actions: tuple[Button, ...] = ()
    replaces: bool = False
    link: str | None = None  # a file's address (LINE cannot send files)


def short_key(token: str) -> str:
    """The short-label key of a token: "quote.industry.it_services" as is; a checklist's
    "ck.<incident ref>.<item>.<n>" as "ck.<item>" (the ref and the tick state vary)."""
    parts = token.split(".")
    if parts[0] == "ck" and len(parts) >= 3:
        return f"ck.{parts[2]}"
    return token


def quick_label(button: Button, short: Mapping[str, str]) -> str | None:
    """The label for a quick reply, or None when it has no form of at most 20 characters."""
    ticked = button.label.startswith(TICK)
    label = short.get(short_key(button.token)) or button.label.removeprefix(TICK)
    label = (TICK if ticked else "") + label
    return label if line_length(label) <= MAX_QUICK_LABEL else None


def postback(token: str, label: str, shown: str) -> dict:
    if len(token) > MAX_DATA:
        raise ValueError(f"postback data over {MAX_DATA} characters: {token[:40]}...")
    return {
        "type": "postback",
        "label": label,
        "data": token,
        "displayText": cut(shown.removeprefix(TICK), MAX_DISPLAY_TEXT),
    }


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Text over LINE's limit, cut at line ends (our templates never come near it). LINE counts
    UTF-16 units, so an over-long line is cut every limit/2 characters; a blank tail is dropped."""
    return split_lines(text, limit, measure=line_length, hard_cut=limit // 2, keep_last=str.strip)


def render(card: Card, short: Mapping[str, str], multi: Collection[str] = ()) -> list[dict]:
    """One reply as LINE messages (usually one; the quote result is a card and its text).

    `short`: the short labels (token key → label); `multi`: token prefixes of multi-select steps
    ("quote.channels."), whose replies are cards."""
    text = to_plain(card.text).strip()
    if card.link:
        text = f"{text}\n{card.link}" if text else card.link
    buttons = card.choices + card.actions
    if card.key in QUOTE_RESULTS:
        messages = [*quote_card(text), *text_messages(text)]
    elif not buttons:
        return text_messages(text)
    else:
        labels = [quick_label(b, short) for b in buttons]
        multiple = any(b.token.startswith(tuple(multi)) for b in buttons) if multi else False
        as_card = card.replaces or multiple or bool(card.actions) or len(buttons) > MAX_QUICK_REPLIES
        if as_card or any(label is None for label in labels):
            return [button_bubble(text, buttons)]
        messages = text_messages(text or "…")
        messages[-1]["quickReply"] = {
            "items": [
                {"type": "action", "action": postback(b.token, label, b.label)}
                for b, label in zip(buttons, labels, strict=True)
            ]
        }
        return messages
    if buttons:  # a quote result with buttons: they stay on its card
        messages[-1] = button_bubble(messages[-1]["text"], buttons)
    return messages


def text_messages(text: str) -> list[dict]:
    return [{"type": "text", "text": chunk} for chunk in split_text(text)]


def _text(text: str, **style) -> dict:
    return {"type": "text", "text": text or " ", "wrap": True, **style}


def button_bubble(text: str, buttons: Sequence[Button]) -> dict:
    """A card that stays in the chat: its text, then one button per option (ticked ones marked)."""
    contents = [
        {
            "type": "button",
            "style": "primary" if b.label.startswith(TICK) else "secondary",
            "height": "sm",
            "action": postback(b.token, cut(b.label, MAX_BUTTON_LABEL), b.label),
        }
        for b in buttons
    ]
    bubble = {
        "type": "bubble",
        "size": "giga",
        "body": {"type": "box", "layout": "vertical", "contents": [_text(text, size="sm")]},
        "footer": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": contents},
    }
    return {"type": "flex", "altText": cut(_first_lines(text), MAX_ALT_TEXT), "contents": bubble}


def _first_lines(text: str, n: int = 3) -> str:
    lines = [line for line in text.split("\n") if line.strip()]
    return "\n".join(lines[:n]) or "…"


@dataclass(frozen=True)
class Plan:
    product: str
    name: str
    premium: str


_PLAN = re.compile(r"^◆\s*(.+)$")
_SUMMARY_PLAN = re.compile(r"^◆\s*([^:：]+)[:：]\s*([^｜|]+)[｜|]")
_PRODUCT = re.compile(r"^■\s*(.+)$")
_BULLET = re.compile(r"^[•・]\s*(.+)$")


def plans_of(text: str) -> tuple[list[str], list[Plan]]:
    """The quote result's heading lines and each plan's product, name and premium line."""
    head, plans, product, pending = [], [], "", None
    for raw in text.split("\n"):
        line = raw.strip()
        if (m := _PRODUCT.match(line)) is not None:
            product = m.group(1)
        elif (m := _SUMMARY_PLAN.match(line)) is not None:  # "◆ ミニコース: 月額 3,500円｜賠償…"
            plans.append(Plan(product, m.group(1).strip(), m.group(2).strip()))
        elif (m := _PLAN.match(line)) is not None:
            pending = m.group(1)
        elif pending is not None and (m := _BULLET.match(line)) is not None:
            plans.append(Plan(product, pending, m.group(1)))
            pending = None
        elif not product and line:
            head.append(line)
    return head, plans


def quote_card(text: str) -> list[dict]:
    """The plans side by side (a carousel when there are more than fit), with an altText."""
    head, plans = plans_of(text)
    if not plans:
        return []
    alt = "\n".join(head[:1] + [f"{p.name}: {p.premium}" for p in plans])

    def column(plan: Plan) -> dict:
        return {
            "type": "box",
            "layout": "vertical",
            "flex": 1,
            "spacing": "xs",
            "contents": [
                _text(plan.name, weight="bold", size="sm"),
                _text(plan.premium, size="sm", color="#1a7f37"),
            ],
        }

    def bubble(group: Sequence[Plan]) -> dict:
        products = list(dict.fromkeys(p.product for p in group))
        body = [_text(line, size="xs", color="#666666") for line in head[:3]]
        body += [_text(name, weight="bold", size="sm") for name in products]
        body.append(
            {"type": "box", "layout": "horizontal", "spacing": "md", "contents": [column(p) for p in group]}
        )
        return {
            "type": "bubble",
            "size": "giga",
            "body": {"type": "box", "layout": "vertical", "spacing": "md", "contents": body},
        }

    groups: list[list[Plan]] = []
    for plan in plans:  # plans of one product together, at most MAX_COLUMNS a bubble
        if groups and groups[-1][0].product == plan.product and len(groups[-1]) < MAX_COLUMNS:
            groups[-1].append(plan)
        else:
            groups.append([plan])
    bubbles = [bubble(g) for g in groups[:12]]
    contents = bubbles[0] if len(bubbles) == 1 else {"type": "carousel", "contents": bubbles}
    return [{"type": "flex", "altText": cut(alt, MAX_ALT_TEXT), "contents": contents}]


def card_of(reply: Any, link: str | None = None) -> Card:
    """A Reply (bot.messages) as the renderer sees it."""
    choices = getattr(reply, "choices", None)
    if choices is None:  # the Reply before the seam: one list; checklist ticks are "ck." tokens
        options = reply.options
        actions = tuple(o for o in options if o.token.startswith("ck."))
        choices = tuple(o for o in options if not o.token.startswith("ck."))
        replaces = reply.edit
    else:
        actions, replaces = reply.actions, reply.replaces

    def buttons(options) -> tuple[Button, ...]:
        return tuple(Button(o.token, to_plain(o.label)) for o in options)

    return Card(reply.key, reply.text, buttons(choices), buttons(actions), replaces, link)


def multi_select_prefixes(dialogs: Mapping[str, Any]) -> frozenset[str]:
    """Token prefixes of every multi-select step ("quote.channels."): their replies are cards."""
    return frozenset(
        f"{name}.{step.id}."
        for name, dialog in dialogs.items()
        for step in dialog.steps
        if isinstance(step, MultiChoose)
    )
