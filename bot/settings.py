"""Settings come from the environment, read once at start-up; a bad one is reported by name
(never by value, since some are secrets)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from dialogs.office_hours import ConfigError, OfficeHours

__all__ = ["ConfigError", "Settings", "TelegramSettings", "redact"]

DEFAULT_DB = "./data/quotebot.db"
DEFAULT_TELEGRAM_API = "https://api.telegram.org/bot"


def _whole(env: Mapping[str, str], name: str, default: int, unit: str) -> int:
    value = env.get(name, "").strip() or str(default)
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{name} must be a whole number of {unit} (1 or more)")
    return int(value)


def _on_off(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower() or "on"
    if value not in ("on", "off"):
        raise ConfigError(f"{name} must be on or off")
    return value == "on"


def _settle(env: Mapping[str, str]) -> int:
    value = env.get("QUOTEBOT_SETTLE_MS", "").strip() or "300"
    if not value.isdigit() or int(value) > 5000:
        raise ConfigError("QUOTEBOT_SETTLE_MS must be a whole number of milliseconds from 0 to 5000")
    return int(value)


@dataclass(frozen=True)
class TelegramSettings:
    token: str = field(repr=False)
    base_url: str = DEFAULT_TELEGRAM_API
    staff_chat_id: int | None = None
    limits: bool = True  # Telegram's rate limits enforced before sending (bot/limits.py)


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from the environment."""

    db: str = DEFAULT_DB  # a SQLite path or a postgresql:// URL (QUOTEBOT_DB)
    db_pool: int = 10  # PostgreSQL: connections per worker (QUOTEBOT_DB_POOL)
    settle_ms: int = 300  # PostgreSQL: an ordered event waits this long for a late earlier one
    retention: timedelta = timedelta(days=365)  # untouched conversations are forgotten after this
    office_hours: OfficeHours | None = None
    answer_wait: timedelta = timedelta(minutes=15)  # a waiting user is told nobody answered after this
    staff_chat_id: int | None = None  # the staff desk (a Telegram forum group); None: no staff
    telegram_token: str | None = field(default=None, repr=False)
    telegram_base_url: str = DEFAULT_TELEGRAM_API
    telegram_limits: bool = True  # TELEGRAM_RATE_LIMITS: off only for load tests against a stub

    @classmethod
    def from_env(cls, env: Mapping[str, str], db: str | None = None) -> Settings:
        staff = env.get("TELEGRAM_STAFF_CHAT_ID", "").strip()
        try:
            staff_chat_id = int(staff) if staff else None
        except ValueError:
            raise ConfigError("TELEGRAM_STAFF_CHAT_ID must be a chat id such as -1001234567890") from None
        if staff_chat_id is not None and staff_chat_id >= 0:  # a person or a bot, not a group
            raise ConfigError(
                f"TELEGRAM_STAFF_CHAT_ID {staff_chat_id} is not a group: a staff group's id is negative,"
                " such as -1001234567890"
            )
        return cls(
            db=db or env.get("QUOTEBOT_DB", "").strip() or DEFAULT_DB,
            db_pool=_whole(env, "QUOTEBOT_DB_POOL", 10, "connections"),
            settle_ms=_settle(env),
            retention=timedelta(days=_whole(env, "QUOTEBOT_RETENTION_DAYS", 365, "days")),
            office_hours=OfficeHours.from_env(env),
            answer_wait=timedelta(minutes=_whole(env, "QUOTEBOT_STAFF_ANSWER_MINUTES", 15, "minutes")),
            staff_chat_id=staff_chat_id,
            telegram_token=env.get("TELEGRAM_BOT_TOKEN", "").strip() or None,
            telegram_base_url=env.get("TELEGRAM_API_BASE_URL", "").strip() or DEFAULT_TELEGRAM_API,
            telegram_limits=_on_off(env, "TELEGRAM_RATE_LIMITS"),
        )

    def telegram(self) -> TelegramSettings:
        if not self.telegram_token:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export its token"
            )
        return TelegramSettings(
            self.telegram_token, self.telegram_base_url, self.staff_chat_id, self.telegram_limits
        )

    @property
    def is_postgres(self) -> bool:
        return self.db.startswith(("postgresql://", "postgres://"))

    def store_options(self) -> dict:
        """What open_store takes besides the URL: only PostgreSQL has a pool and a settle window."""
        if not self.is_postgres:
            return {}
        return {"pool_size": self.db_pool, "settle": self.settle_ms / 1000}

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never reach a log line."""
        password = urlsplit(self.db).password if self.is_postgres else None
        return tuple(s for s in (self.telegram_token, password) if s)


class _Redact(logging.Filter):
    """Secrets never reach the logs, whatever library formats the message."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "<redacted>"), ()
        return True


def redact(*secrets: str) -> None:
    """From now on, every handler of the root logger writes these strings as <redacted>."""
    for secret in secrets:
        if secret:
            for handler in logging.getLogger().handlers:
                handler.addFilter(_Redact(secret))
