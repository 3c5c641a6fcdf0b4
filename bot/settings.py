"""Settings come from the environment; a bad one is reported by name (never by value)."""

from dialogs.office_hours import ConfigError

__all__ = ["ConfigError"]
