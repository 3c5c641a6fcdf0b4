"""Shared fixtures: a real SQLite file per test, a hand-moved clock, a chat on the real engine."""

import pytest

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
