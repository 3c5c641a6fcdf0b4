"""Every path a merchant can take works: the dialogs walked breadth-first from /start.

At every state reached (ja and en, staff on and off) every button is tapped, every option typed
as its number and as its label, and free text, an empty line, every command, an unknown command,
a very long text and a photo are sent. No reply is the generic error, none is silence, none is
empty, names an internal file, or is Japanese to an English user. See tests/support/walk.py.
"""

import asyncio
import time

import pytest

from dialogs.steps import Compute
from tests.support.transcript import Clock, open_chat_app
from tests.support.walk import Walker

STAFF_ENV = {"TELEGRAM_STAFF_CHAT_ID": "-100123"}


async def _walk(staff: bool):
    app = await open_chat_app(":memory:", Clock(), env=STAFF_ENV if staff else {})
    started = time.perf_counter()
    try:
        result = await Walker(app).run()
    finally:
        await app.close()
    result.seconds = time.perf_counter() - started
    result.staff = staff
    result.dialogs = app.engine.dialogs
    return result


@pytest.fixture(scope="module")
def walks() -> dict:
    """Both walks at once (each app has its own SQLite thread), shared by the tests below."""

    async def both():
        return await asyncio.gather(_walk(False), _walk(True))

    off, on = asyncio.run(both())
    return {"staff off": off, "staff on": on}


@pytest.fixture(params=["staff off", "staff on"])
def walk(request, walks):
    return walks[request.param]


def test_walk_finds_no_dead_end(walk):
    """No reply anywhere is the generic error, silence, empty, internal or in the wrong language."""
    shown = "\n".join(map(str, walk.failures[:20]))
    assert not walk.failures, f"{len(walk.failures)} bad replies in {walk.inputs} inputs, e.g.:\n{shown}"


def test_walk_reaches_every_declared_step_in_both_languages(walk):
    """Each question and menu of each dialog is reached in ja and en: a new step is walked too
    (an Ask step needs `examples` to be answered and passed)."""
    reached = {(lang, dialog, step) for lang, dialog, step, *_ in walk.states}
    missing = [
        (lang, dialog.name, step.id)
        for dialog in walk.dialogs.values()
        for step in dialog.steps
        if not isinstance(step, Compute)
        for lang in ("ja", "en")
        if (lang, dialog.name, step.id) not in reached
    ]
    assert not missing, f"never reached: {missing}"


def test_walk_reaches_resume_and_handoff_states(walk):
    """The states that broke before: a dialog set aside at a menu, and (staff on) with staff."""
    assert any(suspended for *_, suspended, _ in walk.states)
    assert any(with_staff for *_, with_staff in walk.states) == walk.staff
