"""The LINE channel in this process: a real aiohttp webhook, the real engine, the LINE API stub."""

from __future__ import annotations

import time
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.channels.line import CHANNEL, LineChannel, LineSettings, line_settings, retry_key
from bot.messages import Document, Envelope, Key, Reply
from bot.records import RecordFiles
from bot.settings import ConfigError
from bot.turn import parse_tap
from tests.support.line_stub import LineApiStub
from tests.support.transcript import Clock, open_chat_app

USER = "U" + "a1" * 16
KEY = Key(CHANNEL, USER)


@pytest.fixture
def stub():
    with LineApiStub() as stub:
        stub.add_user(USER, "山田 花子", "ja")
        yield stub


class Line:
    """The channel behind a real webhook URL; `send` posts signed events and runs their turns."""

    def __init__(self, app, channel: LineChannel, server: TestServer, stub: LineApiStub):
        self.app, self.channel, self.server, self.stub = app, channel, server, stub
        self.url = str(server.make_url("/webhooks/line"))

    async def post(self, events, **options) -> int:
        status, _ = await self.stub.apost_webhook(self.url, events, **options)
        return status

    async def send(self, *events) -> list:
        before = len(self.stub.delivered(USER))
        assert await self.post(list(events)) == 200
        await self.app.engine.settle()
        return self.stub.delivered(USER)[before:]

    async def say(self, text: str) -> list:
        return await self.send(self.stub.message(USER, text))

    async def tap(self, token: str) -> list:
        return await self.send(self.stub.postback(USER, token))

    def last_tokens(self) -> list[str]:
        for delivered in reversed(self.stub.delivered(USER)):
            tokens = [a["data"] for a in delivered.actions if a.get("type") == "postback"]
            if tokens:
                return tokens
        return []

    def token(self, ending: str) -> str:
        tokens = self.last_tokens()
        found = [t for t in tokens if t.endswith("." + ending) or parse_tap(t)[2] == ending]
        assert found, f"no button .{ending} among {tokens}"
        return found[0]


@pytest.fixture
async def line(tmp_path, stub):
    app = await open_chat_app(tmp_path / "q.db", Clock())
    settings = LineSettings(stub.channel_secret, stub.access_token, stub.base_url)
    records = RecordFiles(tmp_path / "records", stub.channel_secret, "https://bot.example.jp")
    channel = LineChannel(app.engine, settings, records)
    web_app = web.Application()
    web_app.router.add_post("/webhooks/line", channel.webhook)
    web_app.router.add_get("/records/{token}", records.handle)
    server = TestServer(web_app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Line(app, channel, server, stub)
    finally:
        await server.close()
        await channel.close()
        await app.close()


# -- settings -------------------------------------------------------------------------------------


def test_line_settings_off_without_a_secret():
    assert line_settings({}) is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LINE_CHANNEL_SECRET": "s3cr3t-value"}, "LINE_CHANNEL_ACCESS_TOKEN"),
        ({"LINE_CHANNEL_ACCESS_TOKEN": "t0ken-value"}, "LINE_CHANNEL_SECRET"),
        ({"LINE_API_BASE_URL": "http://127.0.0.1:1"}, "LINE_CHANNEL_SECRET"),
        (
            {
                "LINE_CHANNEL_SECRET": "s3cr3t-value",
                "LINE_CHANNEL_ACCESS_TOKEN": "t0ken-value",
                "LINE_API_BASE_URL": "api",
            },
            "LINE_API_BASE_URL",
        ),
    ],
)
def test_line_settings_missing_or_inconsistent_are_named_never_shown(env, named):
    """One line naming what to set; the secret and the token never appear in it."""
    with pytest.raises(ConfigError) as e:
        line_settings(env)
    message = str(e.value)
    assert named in message and "\n" not in message
    assert "s3cr3t" not in message and "t0ken" not in message


# -- the webhook ----------------------------------------------------------------------------------


async def test_line_verify_request_with_no_events_is_200(line, stub):
    """LINE's "Verify" button sends a signed body with no events: 200, nothing else."""
    assert await line.post([]) == 200
    assert stub.calls("/v2/bot/message") == []


@pytest.mark.parametrize("signature", [None, "forged", "c2lnbmF0dXJl"], ids=["missing", "garbage", "wrong"])
async def test_line_bad_or_missing_signature_is_refused_and_nothing_processed(line, stub, signature):
    """A webhook not signed with our channel secret is a 4xx; no event reaches the inbox."""
    from bot import metrics

    before = metrics.value("quotebot_updates_received_total", channel="line", outcome="unauthorized")
    status = await line.post([stub.message(USER, "/quote")], signature=signature)
    assert 400 <= status < 500
    after = metrics.value("quotebot_updates_received_total", channel="line", outcome="unauthorized")
    assert after - before == 1  # counted for /metrics
    await line.app.engine.settle()
    async with line.app.store.transaction() as tx:
        assert await tx.load_conversation(KEY) is None
        assert await tx.pending_conversations() == []
    assert stub.delivered() == []


async def test_line_signed_garbage_is_400(line, stub):
    body = b'{"events": "not a list"}'
    status, _ = await stub.apost_webhook(line.url, [], body=body, signature=stub.sign(body))
    assert status == 400


async def test_line_events_are_in_the_inbox_before_the_200(line, stub):
    """When the webhook has answered, the event is committed: its turn has not even run yet."""
    assert await line.post([stub.message(USER, "/quote")]) == 200
    async with line.app.store.transaction() as tx:
        assert KEY in await tx.pending_conversations()
    assert stub.delivered() == []  # not processed yet (the runner is not started in this test)
    await line.app.engine.settle()
    assert "売上" in stub.delivered(USER)[0].text


# -- a whole quote, by reply tokens ---------------------------------------------------------------


async def test_line_follow_greets_with_the_menu_by_reply(line, stub):
    """A new friend gets the greeting and the menu, answered with the event's reply token."""
    [menu] = await line.send(stub.follow(USER))
    assert menu.via == "reply" and menu.quick_replies
    assert "menu.start.quote" in [a["data"] for a in menu.quick_replies]
    assert stub.calls("/v2/bot/message/push") == []


async def test_line_quote_by_taps_gives_the_premiums_on_a_card(line, stub):
    """3億, 小売業, 楽天市場 → a Flex card with 3,500円 and 7,500円 a month, all by reply."""
    await line.say("/quote")
    await line.say("3億")
    assert "quote.industry.retail" in line.last_tokens()
    await line.tap("quote.industry.retail")
    [channels] = stub.delivered(USER)[-1:]
    assert channels.message["type"] == "flex"  # a multi-select is a card
    await line.tap(line.token("rakuten"))
    assert any(a["label"].startswith("✅") for a in stub.delivered(USER)[-1].actions)
    result = await line.tap(line.token("done"))
    card = next(d for d in result if d.message["type"] == "flex")
    assert "3,500円" in card.message["altText"] and "7,500円" in card.message["altText"]
    joined = "\n".join(d.text for d in result)
    assert "月額 3,500円" in joined and "月額 7,500円" in joined
    assert {d.via for d in stub.delivered(USER)} == {"reply"}  # not one paid push
    for delivered in result:
        displayed = [a.get("displayText") for a in delivered.actions]
        assert all(displayed)


async def test_line_typed_answers_and_trigger_words_work(line, stub):
    """Typed numbers and labels count as taps; incident words start the incident help."""
    await line.say("/quote")
    await line.say("3億")
    typed = await line.say("小売業")
    assert any("販売チャネル" in d.text for d in typed)
    incident = await line.say("ランサムウェアにやられた")
    assert any("24" in d.text for d in incident)


async def test_line_rich_menu_tap_arrives_as_a_command(line, stub):
    """The rich menu's "cmd:quote" is the /quote command, not typed text."""
    [answer] = await line.tap("cmd:quote")
    assert "売上" in answer.text


# -- redelivery and push --------------------------------------------------------------------------


async def test_line_the_same_event_twice_is_processed_once(line, stub):
    event = stub.message(USER, "/quote")
    await line.send(event)
    again = await line.send(stub.redelivered(event))
    assert again == [] and len(stub.delivered(USER)) == 1


async def test_line_a_redelivery_first_seen_is_answered_by_push(line, stub):
    """A redelivered event we never stored (we crashed before the 200) is processed; its reply
    token is spent, so the answer goes by push with a retry key."""
    event = stub.redelivered(stub.message(USER, "/quote"))
    [answer] = await line.send(event)
    assert answer.via == "push" and answer.retry_key


async def test_line_expired_reply_token_falls_back_to_push(line, stub):
    """A slow turn: the token is too old when the answer is ready, so it goes by push."""
    event = stub.message(USER, "/quote")
    stub.expire_reply_tokens()
    [answer] = await line.send(event)
    assert answer.via == "push"
    assert [c.status for c in stub.calls("/v2/bot/message/reply")] == [400]


async def test_line_more_than_five_messages_reply_then_push(line, stub):
    """Seven messages for one turn: five in the reply call, the other two by push."""
    token = stub.message(USER, "x")["replyToken"]
    ctx = {"reply_token": token, "received": time.time()}
    await line.app.engine.post(
        [Envelope(KEY, Reply("k", f"message {n}"), kind="reply", reply_ctx=ctx) for n in range(7)]
    )
    await line.app.engine.outbox.drain()
    delivered = stub.delivered(USER)
    assert [d.text for d in delivered] == [f"message {n}" for n in range(7)]
    assert [d.via for d in delivered] == ["reply"] * 5 + ["push"] * 2
    assert len(stub.calls("/v2/bot/message/reply")) == 1


async def test_line_a_retried_push_is_delivered_once(line, stub):
    """The push went but its answer was lost: the outbox tries again with the same retry key,
    LINE answers 409, the row counts as sent, and the user saw it once."""
    stub.lose_answer_next("/v2/bot/message/push")
    await line.app.engine.post([Envelope(KEY, Reply("k", "staff answered"), kind="relay")])
    await line.app.engine.outbox.drain()  # first try: 500 (it went)
    async with line.app.store.transaction() as tx:
        [row] = await tx.due_outbox(line.app.engine.clock() + timedelta(hours=2), destination=KEY)
        await tx.postpone(row.id, "test: now", line.app.engine.clock())
    await line.app.engine.outbox.drain()  # second try: 409 → sent
    assert [c.status for c in stub.calls("/v2/bot/message/push")] == [500, 409]
    assert [d.text for d in stub.delivered(USER)] == ["staff answered"]
    async with line.app.store.transaction() as tx:
        assert await tx.due_outbox(line.app.engine.clock() + timedelta(hours=2), destination=KEY) == []


async def test_line_retry_key_is_stable_per_row():
    class Row:
        id = 7
        envelope = Envelope(KEY, Reply("k", "t"))

    assert retry_key(Row()) == retry_key(Row()) != retry_key(Row(), 1)


async def test_line_a_user_who_blocked_the_bot_is_not_pushed_to(line, stub):
    """After unfollow, nothing is pushed (it would cost and never arrive); follow again: it is."""
    await line.send(stub.follow(USER))
    assert await line.post([stub.unfollow(USER)]) == 200
    await line.app.engine.post([Envelope(KEY, Reply("k", "a reminder"), kind="reminder")])
    await line.app.engine.outbox.drain()
    assert stub.calls("/v2/bot/message/push") == []
    stub.blocked.discard(USER)
    [greeting] = await line.send(stub.follow(USER))
    assert greeting.via == "reply"
    await line.app.engine.post([Envelope(KEY, Reply("k", "another reminder"), kind="reminder")])
    await line.app.engine.outbox.drain()
    assert stub.delivered(USER)[-1].text == "another reminder"


# -- the incident record as a link ----------------------------------------------------------------


async def test_line_incident_record_is_a_link_that_opens_and_expires(line, stub, tmp_path):
    """LINE cannot take files: the record is an unguessable link under QUOTEBOT_PUBLIC_URL."""
    records = line.channel.sender.records
    link = records.save(42, "incident.txt", "事故の記録".encode())
    assert link.startswith("https://bot.example.jp/records/") and len(link.rsplit("/", 1)[1]) == 32
    assert records.save(42, "incident.txt", "事故の記録".encode()) == link  # a retry: the same link
    token = link.rsplit("/", 1)[1]
    async with aiohttp.ClientSession() as http:
        async with http.get(str(line.server.make_url(f"/records/{token}"))) as response:
            assert response.status == 200 and (await response.text()) == "事故の記録"
        async with http.get(str(line.server.make_url("/records/" + "x" * 32))) as response:
            assert response.status == 404
        records.days = 0
        expired = records.save(43, "b.txt", b"old")
        async with http.get(str(line.server.make_url("/records/" + expired.rsplit("/", 1)[1]))) as response:
            assert response.status == 410


async def _retry_now(line) -> None:
    """Make the row the outbox postponed due now (instead of waiting for its backoff)."""
    async with line.app.store.transaction() as tx:
        for row in await tx.due_outbox(line.app.engine.clock() + timedelta(hours=2), destination=KEY):
            await tx.postpone(row.id, row.last_error or "", line.app.engine.clock())


async def test_line_a_reply_whose_answer_was_lost_is_not_sent_again(line, stub):
    """The reply went but its answer was lost (a 500, a crash): the retry finds the token spent
    within its minute after an interrupted attempt, and counts the message as sent, not pushed."""
    stub.lose_answer_next("/v2/bot/message/reply")
    await line.post([stub.message(USER, "/quote")])
    await line.app.engine.settle()
    await _retry_now(line)
    await line.app.engine.outbox.drain()
    assert [d.via for d in stub.delivered(USER)] == ["reply"]
    assert stub.calls("/v2/bot/message/push") == []
    async with line.app.store.transaction() as tx:
        assert await tx.due_outbox(line.app.engine.clock() + timedelta(hours=2), destination=KEY) == []


async def test_line_a_reply_that_failed_before_line_got_it_is_sent_on_retry(line, stub):
    """A 500 before anything happened: the token is still good, the retry replies with it."""
    stub.fail_next("/v2/bot/message/reply", 500)
    await line.post([stub.message(USER, "/quote")])
    await line.app.engine.settle()
    assert stub.delivered(USER) == []
    await _retry_now(line)
    await line.app.engine.outbox.drain()
    assert [d.via for d in stub.delivered(USER)] == ["reply"]


async def test_line_a_failed_send_is_tried_again_on_the_outbox_backoff(line, stub):
    """A 500 from LINE is tried again after the outbox's first retry (bot/outbox.FIRST_RETRY,
    half a second, kept to the whole second), not after a flat 5 or 10 s."""
    stub.fail_next("/v2/bot/message/reply", 500)
    await line.post([stub.message(USER, "/quote")])
    await line.app.engine.settle()
    soon = line.app.engine.clock() + timedelta(seconds=2)
    async with line.app.store.transaction() as tx:
        assert await tx.due_outbox(line.app.engine.clock(), destination=KEY) == []  # postponed
        [row] = await tx.due_outbox(soon, destination=KEY)
    assert row.attempts >= 1 and stub.delivered(USER) == []


async def test_line_record_link_sent_by_one_worker_opens_on_another(line, stub, tmp_path):
    """Several workers: the click may reach a worker that has no file. It serves the document
    from the outbox row the token names; a forged or expired token still gets 404 / 410."""
    record = Document("incident-I-1.txt", "事故の記録 I-1\n漏えい: 120件".encode())
    await line.app.engine.post([Envelope(KEY, Reply("k", "記録です", document=record), kind="reminder")])
    await line.app.engine.outbox.drain()
    words = [w for d in stub.delivered(USER) for w in (d.text + " " + str(d.actions)).split()]
    link = next(w.strip("'\",}") for w in words if "/records/" in w)
    token = link.rsplit("/", 1)[1]

    other = RecordFiles(tmp_path / "worker-2" / "records", stub.channel_secret, "https://bot.example.jp")
    web_app = web.Application()
    web_app.router.add_get("/records/{token}", other.handle)
    server = TestServer(web_app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:

            async def status(token: str) -> tuple[int, bytes]:
                async with http.get(str(server.make_url(f"/records/{token}"))) as response:
                    return response.status, await response.read()

            assert await status(token) == (404, b"not found")  # no file here, and no store to ask
            other.store, other.clock = line.app.store, lambda: line.app.engine.clock().timestamp()
            assert await status(token) == (200, record.content)
            assert not (tmp_path / "worker-2").exists()  # read from the database, not copied here
            forged = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")  # the row's id, a wrong MAC
            assert other.row_of(forged) == other.row_of(token)
            assert (await status(forged))[0] == 404
            assert (await status("x" * 32))[0] == 404
            other.days = 0
            assert (await status(token))[0] == 410
    finally:
        await server.close()
