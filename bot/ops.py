"""What an operator asks the running server: `GET /healthz` and `GET /metrics`.

/healthz is 200 when the store answers and the outbox is draining, 503 otherwise, with one line
of JSON saying why: `{"status": "ok"}` or `{"status": "unhealthy", "reason": "..."}`.
"Draining" means: the background workers (outbox, inbox runner) are running, no due message
has waited longer than `QUOTEBOT_HEALTH_OUTBOX_SECONDS` (default 600), and no message has
failed `FAILING_ATTEMPTS` times in a row (about eight minutes of backoff, or as many "retry
after" answers). A message waiting for its time (a reminder) or for the staff group's rate
limit is not a fault until it is that late.

/metrics is the Prometheus text format (bot/metrics.py); the figures kept in the store are
read at each scrape, so it answers 503 too when the store does not.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from bot import metrics
from bot.settings import ConfigError

log = logging.getLogger(__name__)

STORE_TIMEOUT = 2.0  # seconds: a store slower than this to count a few rows is not answering
DEFAULT_OUTBOX_SECONDS = 600

# Figures(): the store's figures now (see the store's ops_figures); raises if the store fails.
Figures = Callable[[], Awaitable[Mapping[str, float]]]


def outbox_limit(env: Mapping[str, str] = os.environ) -> float:
    raw = env.get("QUOTEBOT_HEALTH_OUTBOX_SECONDS", "").strip() or str(DEFAULT_OUTBOX_SECONDS)
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError("QUOTEBOT_HEALTH_OUTBOX_SECONDS must be a whole number of seconds (1 or more)")
    return float(raw)


class Ops:
    """The two routes, given how to read the store's figures and which workers must be alive."""

    def __init__(
        self,
        figures: Figures,
        workers: Mapping[str, Callable[[], bool]] | None = None,
        *,
        outbox_seconds: float = DEFAULT_OUTBOX_SECONDS,
    ):
        self._figures = figures
        self.workers = dict(workers or {})
        self.outbox_seconds = outbox_seconds

    def register(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)

    async def read_figures(self) -> Mapping[str, float]:
        async with asyncio.timeout(STORE_TIMEOUT):
            return await self._figures()

    async def check(self) -> tuple[bool, str]:
        """(healthy, reason); the reason is one short line an operator can act on."""
        try:
            figures = await self.read_figures()
        except Exception as e:  # TimeoutError, a locked or missing database, a lost connection
            return False, f"store not answering ({type(e).__name__})"
        for name, alive in self.workers.items():
            if not alive():
                return False, f"{name} worker stopped"
        oldest = figures.get("outbox_oldest_due_seconds", 0)
        if oldest > self.outbox_seconds:
            return False, f"outbox not draining: a due message has waited {oldest:.0f} s"
        failing = figures.get("outbox_failing", 0)
        if failing:
            return False, f"outbox not draining: {failing:.0f} message(s) failing again and again"
        return True, "ok"

    async def healthz(self, request: web.Request) -> web.Response:
        healthy, reason = await self.check()
        if healthy:
            body = {"status": "ok"}
        else:
            body = {"status": "unhealthy", "reason": reason}
            log.warning("health check failed: %s", reason)
        return web.Response(
            text=json.dumps(body, ensure_ascii=False) + "\n",
            status=200 if healthy else 503,
            content_type="application/json",
        )

    async def metrics(self, request: web.Request) -> web.Response:
        try:
            metrics.set_store_figures(await self.read_figures())
        except Exception as e:
            return web.Response(text=f"store not answering ({type(e).__name__})\n", status=503)
        return web.Response(body=metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE})
