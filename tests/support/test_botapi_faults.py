"""The stub's fault injection (Faults) against the real python-telegram-bot client."""

import contextlib
import threading
import time
import urllib.request

import pytest
from telegram import Bot
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from tests.support.botapi_stub import FAULT_KINDS, BotApiStub, Faults

TOKEN = "123456:TEST-token"
USER = 42


@pytest.fixture
def stub():
    with BotApiStub(TOKEN) as stub:
        yield stub


def bot_for(stub: BotApiStub, read_timeout: float = 5.0) -> Bot:
    request = HTTPXRequest(read_timeout=read_timeout)
    return Bot(TOKEN, base_url=stub.base_url, request=request)


def only(kind: str, **options) -> Faults:
    return Faults(seed=1, rate=1.0, kinds=(kind,), **options)


def test_faults_same_seed_same_decisions():
    """A decision depends on seed, method, chat and the call's number only."""
    a, b = Faults(seed=7, rate=0.3), Faults(seed=7, rate=0.3)
    calls = [("sendMessage", chat, n) for chat in range(5) for n in range(1, 40)]
    assert [a.draw(*c) for c in calls] == [b.draw(*c) for c in calls]
    assert [a.draw(*c) for c in calls] != [Faults(seed=8, rate=0.3).draw(*c) for c in calls]
    drawn = [a.draw(*c) for c in calls]
    assert 0.15 < sum(d is not None for d in drawn) / len(drawn) < 0.45  # about 30 %
    assert set(drawn) - {None} == set(FAULT_KINDS)


def test_faults_leave_polling_and_getme_alone():
    faults = Faults(seed=1, rate=1.0)
    assert faults.draw("getUpdates", None, 1) is None
    assert faults.draw("getMe", None, 1) is None
    assert faults.draw("sendMessage", 1, 1) is not None


async def test_fault_429_carries_retry_after(stub):
    stub.set_faults(only("429", retry_after=3))
    async with bot_for(stub) as bot:
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(USER, "hi")
    assert caught.value.retry_after in (3, 3.0) or caught.value.retry_after.total_seconds() == 3
    assert stub.sent(USER) == [] and stub.calls("sendMessage")[0].fault == "429"


async def test_fault_5xx_is_a_network_error_and_sends_nothing(stub):
    stub.set_faults(only("5xx"))
    async with bot_for(stub) as bot:
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(USER, "hi")
    assert stub.sent(USER) == []


async def test_fault_hang_times_out_and_sends_nothing(stub):
    stub.set_faults(only("hang", hang=1.0))
    async with bot_for(stub, read_timeout=0.3) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(USER, "hi")
    assert stub.sent(USER) == []


async def test_fault_late_success_times_out_but_the_message_is_there(stub):
    """The ambiguous case: the client gave up, Telegram delivered."""
    stub.set_faults(only("late", hang=1.0))
    async with bot_for(stub, read_timeout=0.3) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(USER, "hi")
    (sent,) = stub.sent(USER)
    assert sent.text == "hi" and stub.calls("sendMessage")[0].fault == "late"


async def test_faults_off_again_answers_at_once(stub):
    stub.set_faults(only("5xx"))
    stub.set_faults(None)
    async with bot_for(stub) as bot:
        await bot.send_message(USER, "hi")
    assert [s.text for s in stub.sent(USER)] == ["hi"]


async def test_fault_redelivery_returns_a_confirmed_batch_again(stub):
    """With redeliver=1 every offset is ignored: the batch comes again, as after a lost confirm."""
    first = stub.push_message(USER, "one")
    async with bot_for(stub) as bot:
        (update,) = await bot.get_updates(timeout=0)
        stub.set_faults(Faults(seed=1, rate=0.0, redeliver=1.0))
        again = await bot.get_updates(offset=update.update_id + 1, timeout=0)
        stub.set_faults(None)
        confirmed = await bot.get_updates(offset=update.update_id + 1, timeout=0)
    assert [u.update_id for u in again] == [first] and confirmed == ()
    assert first in stub.confirmed()


def test_close_cuts_a_hang_short(stub):
    """A hung answer does not keep the test waiting once the stub closes."""
    stub.set_faults(only("hang", hang=30.0))
    url = f"{stub.base_url}{TOKEN}/sendMessage?chat_id=1&text=x"
    thread = threading.Thread(target=lambda: _ignore(lambda: urllib.request.urlopen(url, timeout=30)))
    thread.start()
    stub.wait_for(lambda s: s.calls("sendMessage"), timeout=5)
    began = time.monotonic()
    stub.close()
    thread.join(timeout=10)
    assert time.monotonic() - began < 5 and not thread.is_alive()


def _ignore(call) -> None:
    with contextlib.suppress(Exception):
        call()
