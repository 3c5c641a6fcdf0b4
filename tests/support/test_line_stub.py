"""The LINE stub answers line-bot-sdk v3's real async client as LINE does where it matters to us."""

from __future__ import annotations

import pytest
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    PushMessageRequest,
    ReplyMessageRequest,
)

from tests.support.line_stub import LimitError, LineApiStub, check_message

USER = "U" + "1" * 32


@pytest.fixture
def stub():
    with LineApiStub() as stub:
        yield stub


@pytest.fixture
async def api(stub):
    client = AsyncApiClient(Configuration(host=stub.base_url, access_token=stub.access_token))
    yield AsyncMessagingApi(client), AsyncMessagingApiBlob(client)
    await client.close()


def text(t: str) -> dict:
    return {"type": "text", "text": t}


async def test_line_stub_reply_token_is_single_use(stub, api):
    """A reply token works once; the second reply with it is a 400, as on LINE."""
    messaging, _ = api
    token = stub.message(USER, "hi")["replyToken"]
    await messaging.reply_message(
        ReplyMessageRequest.from_dict({"replyToken": token, "messages": [text("a")]})
    )
    with pytest.raises(ApiException) as e:
        await messaging.reply_message(
            ReplyMessageRequest.from_dict({"replyToken": token, "messages": [text("b")]})
        )
    assert e.value.status == 400 and "Invalid reply token" in e.value.body
    assert [(d.via, d.text) for d in stub.delivered(USER)] == [("reply", "a")]


async def test_line_stub_reply_token_expires(stub, api):
    """A token past its minute is refused."""
    messaging, _ = api
    token = stub.message(USER, "hi")["replyToken"]
    stub.expire_reply_tokens()
    with pytest.raises(ApiException) as e:
        await messaging.reply_message(
            ReplyMessageRequest.from_dict({"replyToken": token, "messages": [text("a")]})
        )
    assert e.value.status == 400 and stub.delivered() == []


async def test_line_stub_push_retry_key_repeat_is_409_and_not_delivered_twice(stub, api):
    """The same X-Line-Retry-Key twice: delivered once, the repeat answered 409."""
    messaging, _ = api
    request = PushMessageRequest.from_dict({"to": USER, "messages": [text("once")]})
    key = "123e4567-e89b-12d3-a456-426614174000"
    await messaging.push_message_with_http_info(request, x_line_retry_key=key)
    with pytest.raises(ApiException) as e:
        await messaging.push_message_with_http_info(request, x_line_retry_key=key)
    assert e.value.status == 409
    assert [(d.via, d.text, d.retry_key) for d in stub.delivered(USER)] == [("push", "once", key)]


async def test_line_stub_checks_the_access_token(stub):
    """A wrong channel access token is a 401."""
    client = AsyncApiClient(Configuration(host=stub.base_url, access_token="wrong"))
    try:
        with pytest.raises(ApiException) as e:
            await AsyncMessagingApi(client).push_message(
                PushMessageRequest.from_dict({"to": USER, "messages": [text("x")]})
            )
        assert e.value.status == 401
    finally:
        await client.close()


async def test_line_stub_serves_media_content_on_the_data_api_path(stub, api):
    """An image a user sent is fetched with the blob API from the same host."""
    _, blob = api
    event = stub.image(USER, b"\xff\xd8jpeg-bytes")
    content = await blob.get_message_content(event["message"]["id"])
    assert bytes(content) == b"\xff\xd8jpeg-bytes"


async def test_line_stub_refuses_messages_over_the_limits(stub):
    """Six messages in one call (the SDK would refuse them too) are a 400 and nothing is delivered."""
    import aiohttp

    token = stub.message(USER, "hi")["replyToken"]
    body = {"replyToken": token, "messages": [text(str(n)) for n in range(6)]}
    headers = {"Authorization": f"Bearer {stub.access_token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(stub.base_url + "/v2/bot/message/reply", json=body, headers=headers) as response,
    ):
        assert response.status == 400
    assert stub.delivered() == []


@pytest.mark.parametrize(
    "message",
    [
        {"type": "text", "text": ""},
        {"type": "text", "text": "x" * 5001},
        {
            "type": "text",
            "text": "q",
            "quickReply": {
                "items": [
                    {"type": "action", "action": {"type": "postback", "label": str(n), "data": str(n)}}
                    for n in range(14)
                ]
            },
        },
        {
            "type": "text",
            "text": "q",
            "quickReply": {
                "items": [{"type": "action", "action": {"type": "postback", "label": "x" * 21, "data": "d"}}]
            },
        },
        {
            "type": "text",
            "text": "q",
            "quickReply": {
                "items": [{"type": "action", "action": {"type": "postback", "label": "x", "data": "d" * 301}}]
            },
        },
        {"type": "flex", "altText": "", "contents": {"type": "bubble"}},
        {"type": "file"},
    ],
    ids=["empty", "long text", "14 quick replies", "long label", "long data", "no alt text", "file"],
)
def test_line_stub_limit_check(message):
    """Each of LINE's limits we rely on is checked."""
    with pytest.raises(LimitError):
        check_message(message)


def test_line_stub_signs_webhooks_as_line_does(stub):
    """The SDK's parser accepts the stub's signature and refuses a forged one."""
    body = stub.body([stub.message(USER, "こんにちは")]).decode()
    parser = WebhookParser(stub.channel_secret)
    events = parser.parse(body, stub.sign(body.encode()))
    assert events[0].message.text == "こんにちは" and events[0].source.user_id == USER
    with pytest.raises(InvalidSignatureError):
        parser.parse(body, stub.sign(b"another body"))
