"""The Telegram side of `quotebot serve`: on when TELEGRAM_BOT_TOKEN is set.

It long-polls, as `quotebot telegram` does, and registers the Telegram senders on the shared
app's outbox (whose worker the core part runs): user chats, and the staff group (alerts and
hand-off topics) for users of every channel.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bot.channels.telegram import TelegramChannel, make_bot
from bot.settings import Settings, redact

if TYPE_CHECKING:
    from aiohttp import web

    from bot.web import Server

log = logging.getLogger(__name__)


async def install(server: Server) -> bool:
    if not server.env.get("TELEGRAM_BOT_TOKEN", "").strip():
        return False
    telegram = Settings.from_env(server.env, server.db_path).telegram()  # a bad setting stops start-up here
    redact(telegram.token)

    async def running(_web: web.Application) -> AsyncIterator[None]:
        bot = make_bot(telegram.token, telegram.base_url)
        async with bot:
            channel = TelegramChannel(server.app.engine, bot, telegram.staff_chat_id)
            await channel.register_commands()
            stop_polling = server.background(channel.poll(), "telegram-polling")
            log.info("telegram: polling as @%s", bot.username)
            try:
                yield
            finally:
                await stop_polling()

    server.web.cleanup_ctx.append(running)
    return True
