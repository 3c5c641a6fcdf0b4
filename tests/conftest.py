"""Shared fixtures: a real database per test, a hand-moved clock, a chat on the real engine.

The database is a SQLite file, or with QUOTEBOT_TEST_BACKEND=postgresql a fresh schema on the
throwaway PostgreSQL server (QUOTEBOT_TEST_PG_URL): the whole suite then runs on PostgreSQL
(`QUOTEBOT_TEST_BACKEND=postgresql .ci/postgres run .venv/bin/python -m pytest -q`).
"""

import os

import pytest

from bot.texts import Texts
from tests.support.backends import BACKENDS, fresh_pg_url
from tests.support.transcript import Chat, Clock, open_chat_app

SUITE_BACKEND = os.environ.get("QUOTEBOT_TEST_BACKEND", "sqlite")
if SUITE_BACKEND not in BACKENDS:
    raise pytest.UsageError(f"QUOTEBOT_TEST_BACKEND must be one of {', '.join(BACKENDS)}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def db(tmp_path):
    """Where the app under test keeps its data: a path, or a postgresql:// URL (use str(db))."""
    if SUITE_BACKEND == "postgresql":
        return await fresh_pg_url()
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
