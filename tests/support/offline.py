"""PTB's network seam answered in-process: a `BaseRequest` backed by the Bot API stub's world.

The real `Bot`, our Telegram channel and its senders run; only the bytes never touch a socket.
"""

from __future__ import annotations

import json

from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.channels.telegram import TelegramChannel, make_bot
from bot.engine import Engine
from tests.support.botapi_stub import BotApiStub


class OfflineRequest(BaseRequest):
    def __init__(self, stub: BotApiStub):
        self.stub = stub

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def read_timeout(self) -> float:
        return 1.0

    async def do_request(self, url, method, request_data: RequestData | None = None, **timeouts):
        token_part, api_method = url.rsplit("/", 2)[-2:]
        params = dict(request_data.parameters) if request_data else {}
        files = {}
        for name, part in (request_data.multipart_data if request_data else {}).items():
            filename, content, mime = part[0], part[1], part[2] if len(part) > 2 else None
            files[name] = (filename, content if isinstance(content, bytes) else content.read(), mime)
        status, body = self.stub.call_api(token_part.removeprefix("bot"), api_method, params, files)
        return status, json.dumps(body).encode()


class OfflineTelegram:
    """The Telegram channel of a running bot, its Bot answered by the stub in-process.

    `async with OfflineTelegram(engine, stub) as telegram:`; `deliver()` feeds it an update as
    polling would and waits for its turn (and the sends right after it).
    """

    def __init__(self, engine: Engine, stub: BotApiStub, staff_chat_id: int | None = None):
        self.engine, self.stub, self.outbox = engine, stub, engine.outbox
        self.bot = make_bot(stub.token, stub.base_url, request=OfflineRequest(stub))
        self.channel = TelegramChannel(engine, self.bot, staff_chat_id)

    async def __aenter__(self) -> OfflineTelegram:
        await self.bot.initialize()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.bot.shutdown()


async def deliver(telegram: OfflineTelegram, stub: BotApiStub, update_id: int) -> None:
    """Feed one queued update to the channel, as polling would, and let its turn run."""
    update = Update.de_json(stub.pending_update(update_id), telegram.bot)
    await telegram.channel.take([update])
    await telegram.engine.settle()


async def send_owed(engine: Engine, clock) -> None:
    """Send everything the outbox owes, moving the test's clock on by what it says to wait
    (Telegram's pace per chat, the staff group's 20 a minute), as its worker would."""
    outbox = engine.outbox
    while True:
        held = await outbox.drain()
        if held is None:
            async with engine.store.transaction() as tx:
                upcoming = await tx.next_outbox_time(outbox.routes)
            if upcoming is None:
                return
            held = max((upcoming - clock()).total_seconds(), 0.001)
        clock.advance(seconds=held)
