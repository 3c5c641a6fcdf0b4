"""LINE's limits against what the engine actually says, in every dialog state a user can reach.

The walk (tests/support/walk.py) tries every input at every state; each turn's replies are
rendered for LINE as the channel renders them and checked against the limits LINE enforces
(the stub's own check: quick replies, labels, postback data, display text, text, alt text).
"""

from __future__ import annotations

import pytest
import pytest_asyncio

from bot.channels.line_render import (
    MAX_MESSAGES,
    MAX_QUICK_REPLIES,
    card_of,
    multi_select_prefixes,
    quick_label,
    render,
)
from tests.support.line_stub import check_message
from tests.support.transcript import Clock, open_chat_app
from tests.support.walk import Walker


class LineWalker(Walker):
    """The walk, with every turn's replies rendered for LINE on the way."""

    def __init__(self, app):
        super().__init__(app)
        self.turns: list[tuple[str, str, list[list[dict]]]] = []  # (input, lang, messages per reply)
        self.fell_back: set[tuple[str, str, str]] = set()  # (lang, token, label) with no short form
        self.multi = multi_select_prefixes(app.engine.dialogs)

    async def send(self, state, step):
        outcome, new_state, relayed = await super().send(state, step)
        lang = new_state["lang"]
        short = self.app.engine.texts.labels(lang, "line")
        rendered = []
        for reply in outcome.replies:
            card = card_of(reply, link="https://bot.example.jp/records/x" if reply.document else None)
            rendered.append(render(card, short, self.multi))
            buttons = card.choices + card.actions
            question = not card.actions and not card.replaces and len(buttons) <= MAX_QUICK_REPLIES
            if question and not any(b.token.startswith(tuple(self.multi)) for b in buttons):
                for b in buttons:
                    if quick_label(b, short) is None:
                        self.fell_back.add((lang, b.token, b.label))
        self.turns.append((str(step), lang, rendered))
        return outcome, new_state, relayed


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def walked():
    app = await open_chat_app(":memory:", Clock())
    walker = LineWalker(app)
    try:
        walk = await walker.run()
    finally:
        await app.close()
    assert walk.failures == [], walk.failures[:3]
    return walker


@pytest.mark.asyncio(loop_scope="module")
async def test_line_limits_every_message_the_engine_emits_fits_line(walked):
    """Every message of every turn passes LINE's checks (quick replies ≤13, labels ≤20, data ≤300...)."""
    bad = []
    count = 0
    for step, lang, replies in walked.turns:
        for messages in replies:
            for message in messages:
                count += 1
                try:
                    check_message(message)
                except ValueError as e:
                    bad.append(f"{lang} {step}: {e}")
    assert count > 1000  # the walk really went everywhere
    assert not bad, sorted(set(bad))[:10]


@pytest.mark.asyncio(loop_scope="module")
async def test_line_limits_every_question_fits_as_quick_replies(walked):
    """A question's choices are quick replies, never a card because a label lacked its short form."""
    assert not walked.fell_back, sorted(walked.fell_back)


@pytest.mark.asyncio(loop_scope="module")
async def test_line_limits_a_turn_fits_one_reply_call(walked):
    """No turn says more than one reply call carries (5 messages), so no turn's answer costs a push."""
    worst = max(walked.turns, key=lambda t: sum(len(m) for m in t[2]))
    assert sum(len(m) for m in worst[2]) <= MAX_MESSAGES, worst[0]
