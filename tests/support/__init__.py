"""Test helpers shared across the suite: a local Telegram Bot API stub."""

from .botapi_stub import ApiError, BotApiStub, Call, Sent

__all__ = ["ApiError", "BotApiStub", "Call", "Sent"]
