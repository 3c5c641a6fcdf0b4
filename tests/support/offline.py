"""PTB's network seam answered in-process: a `BaseRequest` backed by the Bot API stub's world.

The real `Application`, `Bot` and handlers run; only the bytes never touch a socket.
"""

from __future__ import annotations

import json

from telegram import Update
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

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


async def deliver(application: Application, stub: BotApiStub, update_id: int) -> None:
    """Feed one queued update to the application, as polling would."""
    update = Update.de_json(stub.pending_update(update_id), application.bot)
    await application.process_update(update)
