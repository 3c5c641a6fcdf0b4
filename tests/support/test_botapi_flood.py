"""The stub's flood control (FloodControl): Telegram's 30 messages a second for the bot and 20 a
minute per group, refused with 429 and retry_after as Telegram does. Its clock is the test's."""

from tests.support.botapi_stub import BotApiStub, FloodControl

TOKEN = "123:ABC"


class Seconds:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def send(stub: BotApiStub, chat: int, method: str = "sendMessage") -> tuple[int, dict]:
    return stub.call_api(TOKEN, method, {"chat_id": chat, "text": "hi"}, {})


def test_the_31st_message_in_a_second_is_refused_with_retry_after():
    clock = Seconds()
    with BotApiStub(TOKEN, flood=FloodControl(clock=clock)) as stub:
        assert [send(stub, chat)[0] for chat in range(1, 31)] == [200] * 30
        status, body = send(stub, 99)
        assert status == 429 and body["parameters"]["retry_after"] == 1
        clock.now += 0.5
        assert send(stub, 99)[0] == 429  # refused calls do not count, the first 30 still do
        clock.now += 0.5
        assert send(stub, 99)[0] == 200
        assert [c.params["chat_id"] for c in stub.flooded()] == [99, 99]


def test_a_group_gets_20_a_minute_and_a_taps_answer_is_not_a_message():
    clock = Seconds()
    with BotApiStub(TOKEN, flood=FloodControl(clock=clock)) as stub:
        for _ in range(20):
            assert send(stub, -100)[0] == 200
            clock.now += 1.0
        status, body = send(stub, -100)
        assert status == 429 and body["parameters"]["retry_after"] == 40
        assert send(stub, 5)[0] == 200  # a private chat is not held by the group's minute
        assert stub.call_api(TOKEN, "answerCallbackQuery", {"callback_query_id": "1"}, {})[0] != 429
        clock.now += 40
        assert send(stub, -100)[0] == 200


def test_no_flood_control_unless_asked():
    with BotApiStub(TOKEN) as stub:
        assert {send(stub, 1)[0] for _ in range(100)} == {200}
