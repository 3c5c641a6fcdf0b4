"""The Telegram side of `quotebot serve`: on when TELEGRAM_BOT_TOKEN is set.

It long-polls, as `quotebot telegram` does, and registers the Telegram senders: the user
channel and the staff desk, which serves the staff group (alerts and hand-off topics) for users
of every channel. Media a LINE user sends during a hand-off is fetched through
`server.media_sources` and posted in their topic.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from bot.channels.telegram import TelegramChannel, make_bot
from bot.settings import Settings, redact

log = logging.getLogger(__name__)


async def install(server: Any) -> bool:
    """`server` is bot.web.Server; not imported here, since bot.web imports this part (a cycle)."""
    if not server.env.get("TELEGRAM_BOT_TOKEN", "").strip():
        return False
    telegram = Settings.from_env(server.env, server.db_path).telegram()  # bad settings stop start-up
    redact(telegram.token)

    async def running(_web: Any) -> AsyncIterator[None]:
        bot = make_bot(telegram.token, telegram.base_url)
        channel = TelegramChannel(server.app.engine, bot, telegram.staff_chat_id)
        if channel.desk is not None:
            channel.desk.media_sources = server.media_sources
        await bot.initialize()
        await channel.register_commands()
        stop_polling = server.background(channel.poll(), "telegram-poll")
        log.info("telegram: polling as @%s", bot.username)
        try:
            yield
        finally:
            await stop_polling()
            await bot.shutdown()

    server.web.cleanup_ctx.append(running)
    return True
