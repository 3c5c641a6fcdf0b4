"""Logs an operator can ship anywhere: one line per event, no personal data, no secrets.

`setup(env, secrets)` configures the root logger once per process: plain text lines by default,
one JSON object per line with `QUOTEBOT_LOG_FORMAT=json`. Every record passes `Scrub`, which
replaces the secrets it was given (bot token, webhook secret) and pseudonymises conversation
keys (`telegram:12345` → `telegram#1f0c2a9b`), whichever library formatted the message. httpx
logs every Bot API URL, token included, at INFO: it and the access loggers are kept at WARNING.

`event(name, channel, conversation, outcome, step=..., **fields)` is the one way to log something that
happened to a conversation. It never takes message text or names: only the channel, the
conversation's short hash, the dialog step, the outcome and small figures (ms, kind, error).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets as _secrets
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.settings import ConfigError

log = logging.getLogger("quotebot.events")

FORMATS = ("text", "json")
# Loggers that say too much at INFO: httpx puts the token in every URL it logs, the access logs
# add a second line per request to ours, and PTB's updater logs each network hiccup.
QUIET = ("httpx", "httpcore", "aiohttp.access", "telegram.ext.Updater", "hpack")
_KEY = re.compile(r"\b(telegram|line|console|staff):(-?[A-Za-z0-9_]+)")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

# The key of the conversation hashes. Set QUOTEBOT_LOG_SALT to keep them stable across restarts
# (to follow one conversation through days of logs); without it each process draws its own, so
# a hash in the logs can never be matched to a chat id by trying every id.
_salt: bytes = _secrets.token_bytes(16)


def conversation_hash(key: object) -> str:
    """`telegram#1f0c2a9b`: the channel in clear, the rest a keyed hash (8 hex digits)."""
    text = str(key)
    channel, _, rest = text.partition(":")
    digest = hmac.new(_salt, text.encode(), hashlib.sha256).hexdigest()[:8]
    return f"{channel}#{digest}" if rest else digest


class Scrub(logging.Filter):
    """Secrets out, conversation keys pseudonymised, in the message and in event fields."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s and len(s) >= 4)

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return _KEY.sub(lambda m: conversation_hash(m[0]), text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = self.clean(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        for name in _fields(record):
            value = record.__dict__[name]
            if isinstance(value, str):
                record.__dict__[name] = self.clean(value)
        return True


def _fields(record: logging.LogRecord) -> list[str]:
    """The `extra=` fields of a record, in the order they were given."""
    return [k for k in record.__dict__ if k not in _STANDARD and not k.startswith("_")]


class TextFormatter(logging.Formatter):
    """`2026-12-01T21:30:00Z INFO quotebot.events: turn channel=telegram conv=telegram#… ...`."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record, datefmt=None):
        return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{k}={_text(record.__dict__[k])}" for k in _fields(record))
        head, sep, trace = line.partition("\n")
        if not extra:
            return line
        return f"{head}{extra}{sep}{trace}" if head.endswith(": ") else f"{head} {extra}{sep}{trace}"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, msg, the event's fields, and exc if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        if message := record.getMessage():
            entry["msg"] = message
        for k in _fields(record):
            entry.setdefault(k, record.__dict__[k])
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def _text(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (not text or " " in text or '"' in text) else text


def setup(env: Mapping[str, str] = os.environ, secrets: Iterable[str] = (), stream=None) -> None:
    """Configure the process's logging (replacing earlier handlers): format, level, scrubbing."""
    global _salt
    fmt = (env.get("QUOTEBOT_LOG_FORMAT", "").strip() or "text").lower()
    if fmt not in FORMATS:
        raise ConfigError("QUOTEBOT_LOG_FORMAT must be text or json")
    level_name = (env.get("QUOTEBOT_LOG_LEVEL", "").strip() or "INFO").upper()
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        raise ConfigError("QUOTEBOT_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
    salt = env.get("QUOTEBOT_LOG_SALT", "")
    if salt:
        _salt = salt.encode()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(Scrub(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def event(
    name: str, channel: str, conversation: object | None, outcome: str, step: str | None = None, **fields: Any
) -> None:
    """One line for one thing that happened: `turn`, `received`, `sent`, `refused`...

    `step` is the dialog step the conversation was at; `fields` are small figures and codes
    (ms=12, kind="reply", error="Forbidden"): never text a person wrote, names, tokens or secrets.
    """
    extra: dict[str, Any] = {"event": name, "channel": channel}
    if conversation is not None:
        extra["conv"] = conversation_hash(conversation)
    if step is not None:
        extra["step"] = step
    extra |= {"outcome": outcome, **fields}
    log.info("", extra=extra)
