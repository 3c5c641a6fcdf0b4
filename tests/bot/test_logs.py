"""Logs: one line per event, conversation keys hashed, secrets and user text never written."""

import io
import json
import logging

import pytest

from bot import logs, metrics
from bot.settings import ConfigError

TOKEN = "987654:SECRET-token-never-logged"


@pytest.fixture
def captured():
    """Logging set up as a process would, into a buffer; the previous handlers put back after."""
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    levels = {name: logging.getLogger(name).level for name in logs.QUIET}

    def setup(**env):
        stream = io.StringIO()
        logs.setup({"QUOTEBOT_LOG_SALT": "test-salt", **env}, secrets=[TOKEN, "w" * 20], stream=stream)
        return stream

    yield setup
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in before[0]:
        root.addHandler(handler)
    root.setLevel(before[1])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_logs_an_event_is_one_text_line_with_hashed_conversation(captured):
    out = captured()
    metrics.turn("telegram", "telegram:123456789", "quote.industry", "ok", 0.0123)
    (line,) = out.getvalue().splitlines()
    assert "event=turn channel=telegram conv=telegram#" in line
    assert "step=quote.industry outcome=ok ms=12.3" in line
    assert "123456789" not in line
    assert line.endswith(
        f"conv={logs.conversation_hash('telegram:123456789')} step=quote.industry outcome=ok ms=12.3"
    )


def test_logs_json_format_is_one_object_per_line(captured):
    out = captured(QUOTEBOT_LOG_FORMAT="json")
    metrics.sent("telegram", "telegram:42", "reply")
    metrics.refused("line", "line:U1234", "reply", "Forbidden", retry=False)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "sent" and first["channel"] == "telegram" and first["outcome"] == "ok"
    assert first["conv"] == logs.conversation_hash("telegram:42") and first["kind"] == "reply"
    assert second["outcome"] == "gave_up" and second["error"] == "Forbidden"
    assert set(first) >= {"ts", "level", "logger"} and first["level"] == "INFO"
    assert "U1234" not in out.getvalue()


def test_logs_secrets_and_raw_keys_are_scrubbed_whoever_logs_them(captured):
    """httpx-style URLs with the token, a library's message with a chat key: both cleaned."""
    out = captured()
    logging.getLogger("some.library").warning("POST https://api.telegram.org/bot%s/sendMessage", TOKEN)
    logging.getLogger("bot.engine").error("turn failed in %s", "telegram:5550001")
    try:
        raise RuntimeError(f"boom {TOKEN} in telegram:5550001")
    except RuntimeError:
        logging.getLogger("bot.engine").exception("with a traceback")
    text = out.getvalue()
    assert TOKEN not in text and "SECRET" not in text and "5550001" not in text
    assert "<redacted>" in text and logs.conversation_hash("telegram:5550001") in text


def test_logs_httpx_is_kept_quiet(captured):
    out = captured()
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot%s/getMe", TOKEN)
    assert out.getvalue() == ""
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING


def test_logs_conversation_hash_is_stable_with_a_salt_and_differs_between_chats(captured):
    captured(QUOTEBOT_LOG_SALT="one")
    a, b = logs.conversation_hash("telegram:1"), logs.conversation_hash("telegram:2")
    assert a != b and a.startswith("telegram#") and len(a) == len("telegram#") + 8
    assert logs.conversation_hash("telegram:1") == a
    captured(QUOTEBOT_LOG_SALT="two")
    assert logs.conversation_hash("telegram:1") != a  # the salt is the key: no salt, no lookup table


def test_logs_bad_settings_are_named_not_echoed(captured):
    with pytest.raises(ConfigError, match="QUOTEBOT_LOG_FORMAT must be text or json"):
        captured(QUOTEBOT_LOG_FORMAT="xml")
    with pytest.raises(ConfigError, match="QUOTEBOT_LOG_LEVEL"):
        captured(QUOTEBOT_LOG_LEVEL="loud")
