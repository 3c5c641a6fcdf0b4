"""Shared fixtures: a real SQLite file per test, a hand-moved clock, a chat on the real engine."""

import pytest

from bot.texts import Texts
from tests.support.transcript import Chat, Clock, open_chat_app


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(tmp_path):
    return tmp_path / "quotebot.db"


@pytest.fixture
async def app(db, clock):
    app = await open_chat_app(db, clock)
    yield app
    await app.close()


@pytest.fixture
def chat(app) -> Chat:
    return Chat(app)


@pytest.fixture(scope="session", autouse=True)
def shared_texts():
    """One set of compiled templates for every app a test opens.

    open_app() builds Texts and checks it, compiling all ~170 templates (about 0.1 s); done
    for each test, that was most of a transcript test's time. open_app still runs the check;
    it just finds the templates compiled. Texts holds no per-app state.
    """
    texts = Texts()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("bot.app.Texts", lambda: texts)
        yield texts
