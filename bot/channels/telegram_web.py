"""The Telegram side of `quotebot serve`: on when TELEGRAM_BOT_TOKEN is set.

It long-polls, as `quotebot telegram` does, and runs the Telegram outbox worker, which also
serves the staff group (alerts and hand-off topics) for users of every channel.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bot.channels.telegram import build_application, register_commands, settings
from bot.settings import redact

if TYPE_CHECKING:
    from aiohttp import web

    from bot.web import Server

log = logging.getLogger(__name__)


async def install(server: Server) -> bool:
    if not server.env.get("TELEGRAM_BOT_TOKEN", "").strip():
        return False
    token, base_url, staff_chat_id = settings(server.env)  # a bad setting stops start-up here
    redact(token)

    async def running(_web: web.Application) -> AsyncIterator[None]:
        application = build_application(server.app.engine, token, base_url, staff_chat_id=staff_chat_id)
        async with application:
            await register_commands(application)
            await application.start()
            await application.updater.start_polling(allowed_updates=["message", "callback_query"])
            worker = application.bot_data["delivery"].worker()
            stop_outbox = server.background(worker.run(), "telegram-outbox")
            log.info("telegram: polling as @%s", application.bot.username)
            try:
                yield
            finally:
                await application.updater.stop()
                await application.stop()
                await stop_outbox()

    server.web.cleanup_ctx.append(running)
    return True
