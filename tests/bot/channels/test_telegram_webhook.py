"""The webhook route on a small aiohttp app: secret checked, update handed over, then 200."""

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application

from bot import metrics
from bot.channels.telegram_webhook import PATH, SECRET_HEADER, TelegramWebhook, webhook_settings
from bot.settings import ConfigError

SECRET = "s3cret-for-the-webhook_0123456789"


def update(update_id: int, text: str = "3億", chat: int = 777) -> dict:
    message = {"message_id": 1, "date": 0, "chat": {"id": chat, "type": "private"}, "text": text}
    return {"update_id": update_id, "message": message}


class Inbox:
    """A stand-in for engine.accept: keeps what it was given, by update_id, like the real inbox."""

    def __init__(self):
        self.accepted: dict[int, dict] = {}
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def accept(self, update: dict) -> str:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError(f"disk full while storing {update}")
        if update["update_id"] in self.accepted:
            return "duplicate"
        self.accepted[update["update_id"]] = update
        return "accepted"


@pytest.fixture
def inbox():
    return Inbox()


@pytest.fixture
async def client(inbox):
    app = Application()
    TelegramWebhook(SECRET, inbox.accept).register(app)
    async with TestClient(TestServer(app)) as client:
        yield client


async def post(client, body, secret: str | None = SECRET):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    data = body if isinstance(body, bytes) else json.dumps(body)
    return await client.post(PATH, data=data, headers=headers)


async def test_webhook_right_secret_is_accepted_and_answered_200(client, inbox):
    response = await post(client, update(5001))
    assert response.status == 200 and await response.json() == {"ok": True}
    assert list(inbox.accepted) == [5001]


async def test_webhook_refusals_are_counted_here_accepted_ones_by_the_engine(client, inbox):
    def count(outcome):
        return metrics.value("quotebot_updates_received_total", channel="telegram", outcome=outcome)

    before = {o: count(o) for o in ("unauthorized", "unreadable", "accepted")}
    await post(client, update(5010), secret="nope")
    await post(client, b"{not json")
    await post(client, update(5011))
    assert count("unauthorized") - before["unauthorized"] == 1
    assert count("unreadable") - before["unreadable"] == 1
    assert count("accepted") == before["accepted"]  # engine.accept counts it, once committed


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET[:-1], SECRET + "x", SECRET.upper()])
async def test_webhook_wrong_or_missing_secret_is_401_and_leaves_no_trace(client, inbox, secret):
    response = await post(client, update(5002), secret=secret)
    assert response.status == 401
    assert inbox.accepted == {}
    again = await post(client, update(5002))  # the same update, from Telegram this time
    assert again.status == 200 and list(inbox.accepted) == [5002]


async def test_webhook_redelivery_is_recognised_by_update_id_not_the_highest_seen(client, inbox):
    for update_id in (7003, 7001, 7003, 7002, 7001):
        assert (await post(client, update(update_id))).status == 200
    assert sorted(inbox.accepted) == [7001, 7002, 7003]


async def test_webhook_answers_only_after_the_update_is_committed(client, inbox):
    inbox.gate = asyncio.Event()
    request = asyncio.create_task(post(client, update(5003)))
    await asyncio.sleep(0.2)
    assert not request.done()  # no 200 while the inbox has not committed
    inbox.gate.set()
    assert (await request).status == 200 and 5003 in inbox.accepted


async def test_webhook_not_committed_is_500_so_telegram_sends_it_again(client, inbox, caplog):
    inbox.fail = True
    response = await post(client, update(5004, text="秘密の売上 3億"))
    assert response.status == 500
    inbox.fail = False
    assert (await post(client, update(5004))).status == 200 and 5004 in inbox.accepted
    assert "秘密" not in caplog.text and "RuntimeError" in caplog.text


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"message": {}}', b'{"update_id": "1"}'])
async def test_webhook_unreadable_body_is_400_and_not_echoed(client, inbox, caplog, body):
    response = await post(client, body)
    assert response.status == 400 and inbox.accepted == {}
    assert body.decode() not in caplog.text


def test_webhook_settings_without_secret_mean_polling():
    assert webhook_settings({}) is None
    assert webhook_settings({"TELEGRAM_WEBHOOK_SECRET": "  "}) is None


def test_webhook_settings_build_the_url_from_the_public_address():
    env = {"TELEGRAM_WEBHOOK_SECRET": SECRET, "QUOTEBOT_PUBLIC_URL": "https://bot.example.jp/"}
    assert webhook_settings(env) == ("https://bot.example.jp/webhooks/telegram", SECRET)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TELEGRAM_WEBHOOK_SECRET": SECRET}, "QUOTEBOT_PUBLIC_URL"),
        ({"TELEGRAM_WEBHOOK_SECRET": SECRET, "QUOTEBOT_PUBLIC_URL": "bot.example.jp"}, "QUOTEBOT_PUBLIC_URL"),
        ({"TELEGRAM_WEBHOOK_SECRET": "has space in it 0123", "QUOTEBOT_PUBLIC_URL": "https://x"}, "A-Z"),
        ({"TELEGRAM_WEBHOOK_SECRET": "Xq9z-7", "QUOTEBOT_PUBLIC_URL": "https://x"}, "too short"),
    ],
)
def test_webhook_settings_bad_values_are_named_never_shown(env, named):
    with pytest.raises(ConfigError, match=named) as caught:
        webhook_settings(env)
    assert env["TELEGRAM_WEBHOOK_SECRET"] not in str(caught.value)
