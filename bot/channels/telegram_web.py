"""The Telegram side of `quotebot serve`: on when TELEGRAM_BOT_TOKEN is set.

With TELEGRAM_WEBHOOK_SECRET (and QUOTEBOT_PUBLIC_URL) set, Telegram posts updates to
`POST /webhooks/telegram` (bot/channels/telegram_webhook.py): setWebhook is called at start with
that address, the secret and the update types the bot reads. Without the secret it long-polls,
as `quotebot telegram` does, so a LINE-only deployment still has its Telegram staff desk.
Either way it registers the Telegram senders: the user channel and the staff desk, which serves
the staff group (alerts and hand-off topics) for users of every channel. Media a LINE user sends
during a hand-off is fetched through `server.media_sources` and posted in their topic.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from bot.channels.telegram import TelegramChannel, drop_webhook, make_bot
from bot.channels.telegram_webhook import TelegramWebhook, set_webhook, webhook_settings
from bot.settings import Settings, redact

log = logging.getLogger(__name__)


async def install(server: Any) -> bool:
    """`server` is bot.web.Server; not imported here, since bot.web imports this part (a cycle)."""
    if not server.env.get("TELEGRAM_BOT_TOKEN", "").strip():
        return False
    telegram = Settings.from_env(server.env, server.db_path).telegram()  # bad settings stop start-up
    hook = webhook_settings(server.env)
    redact(telegram.token, *(hook[1:] if hook else ()))
    holder: dict[str, TelegramChannel] = {}

    async def accept(update: dict) -> str:
        channel = holder.get("channel")
        if channel is None:  # not started yet, or stopping: Telegram sends it again
            raise RuntimeError("telegram channel not running")
        return await channel.accept_update(update)

    if hook is not None:
        TelegramWebhook(hook[1], accept).register(server.web)

    async def running(_web: Any) -> AsyncIterator[None]:
        bot = make_bot(telegram.token, telegram.base_url)
        channel = TelegramChannel(server.app.engine, bot, telegram.staff_chat_id, limits=telegram.limits)
        if channel.desk is not None:
            channel.desk.media_sources = server.media_sources
        await bot.initialize()
        await channel.register_commands()
        stop_polling = None
        if hook is not None:
            await set_webhook(bot, *hook)  # a refusal (not https...) stops start-up, said in one line
            holder["channel"] = channel
            log.info("telegram: webhook as @%s", bot.username)
        else:
            await drop_webhook(bot)  # one left from a webhook deployment would block getUpdates
            stop_polling = server.background(channel.poll(), "telegram-poll")
            log.info("telegram: polling as @%s", bot.username)
        try:
            yield
        finally:
            holder.pop("channel", None)
            if stop_polling is not None:
                await stop_polling()
            await bot.shutdown()

    server.web.cleanup_ctx.append(running)
    return True
