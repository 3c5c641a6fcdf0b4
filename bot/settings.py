"""Settings come from the environment; a bad one is reported by name (never by value)."""


class ConfigError(ValueError):
    """A missing or malformed setting; the message names the variable."""
