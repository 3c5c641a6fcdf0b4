"""Settings come from the environment; a bad one is reported by name (never by value)."""

import logging

from dialogs.office_hours import ConfigError

__all__ = ["ConfigError", "redact"]


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
