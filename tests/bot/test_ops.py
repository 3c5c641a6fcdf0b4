"""/healthz and /metrics on a small aiohttp app, with the store's figures given by hand."""

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics
from bot.ops import Ops, outbox_limit
from bot.settings import ConfigError

HEALTHY = {"outbox_depth": 3, "outbox_oldest_due_seconds": 12, "reminders_due": 1, "tickets_open": 2}


class Figures:
    def __init__(self):
        self.now = dict(HEALTHY)
        self.error: Exception | None = None
        self.slow = False

    async def __call__(self):
        if self.slow:
            await asyncio.sleep(30)
        if self.error:
            raise self.error
        return self.now


@pytest.fixture
def figures():
    return Figures()


@pytest.fixture
def alive():
    return {"outbox": True}


@pytest.fixture
async def client(figures, alive):
    app = Application()
    Ops(figures, {"outbox": lambda: alive["outbox"]}, outbox_seconds=600).register(app)
    async with TestClient(TestServer(app)) as client:
        yield client


async def health(client):
    response = await client.get("/healthz")
    text = await response.text()
    assert text.endswith("\n") and text.count("\n") == 1  # one line
    return response.status, await response.json()


async def test_ops_healthz_is_200_when_store_answers_and_outbox_drains(client):
    assert await health(client) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"outbox_oldest_due_seconds": 601}, "outbox not draining: a due message has waited 601 s"),
        ({"outbox_failing": 2}, "outbox not draining: 2 message(s) failing again and again"),
    ],
)
async def test_ops_healthz_is_503_with_a_reason_when_the_outbox_is_stuck(client, figures, change, reason):
    figures.now |= change
    assert await health(client) == (503, {"status": "unhealthy", "reason": reason})


async def test_ops_healthz_waits_600_s_before_calling_a_wait_a_fault(client, figures):
    figures.now["outbox_oldest_due_seconds"] = 600
    assert (await health(client))[0] == 200


async def test_ops_healthz_is_503_when_the_store_fails_or_hangs(client, figures, monkeypatch):
    figures.error = OSError("disk I/O error at /secret/path")
    status, body = await health(client)
    assert status == 503 and body["reason"] == "store not answering (OSError)"
    monkeypatch.setattr("bot.ops.STORE_TIMEOUT", 0.1)
    figures.error, figures.slow = None, True
    assert await health(client) == (
        503,
        {"status": "unhealthy", "reason": "store not answering (TimeoutError)"},
    )


async def test_ops_healthz_is_503_when_a_worker_stopped(client, alive):
    alive["outbox"] = False
    assert await health(client) == (503, {"status": "unhealthy", "reason": "outbox worker stopped"})


async def test_ops_metrics_is_prometheus_text_with_the_store_figures(client):
    metrics.received("telegram", "telegram:1", "accepted")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(await response.text())
        for s in family.samples
    }
    assert samples[("quotebot_outbox_depth", ())] == 3
    assert samples[("quotebot_outbox_oldest_due_seconds", ())] == 12
    assert samples[("quotebot_reminders_due", ())] == 1
    assert samples[("quotebot_tickets_open", ())] == 2
    assert (
        samples[("quotebot_updates_received_total", (("channel", "telegram"), ("outcome", "accepted")))] >= 1
    )
    assert "# TYPE quotebot_turn_seconds histogram" in await response.text()


async def test_ops_metrics_counts_turns_into_the_histogram(client):
    before = metrics.value("quotebot_turn_seconds_count", channel="line")
    metrics.turn("line", "line:U1", "menu", "ok", 0.03)
    metrics.turn("line", "line:U1", "menu", "ok", 0.3)
    text = await (await client.get("/metrics")).text()
    assert metrics.value("quotebot_turn_seconds_count", channel="line") - before == 2
    assert 'quotebot_turn_seconds_bucket{channel="line",le="0.05"}' in text


async def test_ops_metrics_is_503_when_the_store_fails(client, figures):
    figures.error = OSError("gone")
    response = await client.get("/metrics")
    assert response.status == 503


def test_ops_outbox_limit_setting():
    assert outbox_limit({}) == 600
    assert outbox_limit({"QUOTEBOT_HEALTH_OUTBOX_SECONDS": "120"}) == 120
    with pytest.raises(ConfigError, match="QUOTEBOT_HEALTH_OUTBOX_SECONDS"):
        outbox_limit({"QUOTEBOT_HEALTH_OUTBOX_SECONDS": "soon"})
