"""PerChatUpdateProcessor: updates of different chats run concurrently, of one chat in order."""

import asyncio

from telegram import Update

from bot.channels.telegram import PerChatUpdateProcessor


def update(chat_id: int, update_id: int = 1) -> Update:
    message = {"message_id": update_id, "date": 0, "chat": {"id": chat_id, "type": "private"}, "text": "x"}
    return Update.de_json({"update_id": update_id, "message": message}, None)


async def test_telegram_one_chat_keeps_its_order_when_a_third_update_arrives_at_handover():
    """An update arriving just as the chat's first one finishes waits behind the second one."""
    processor, order, first_may_finish = PerChatUpdateProcessor(), [], asyncio.Event()

    async def work(name: str, *, wait: asyncio.Event | None = None, slow: bool = False) -> None:
        if wait is not None:
            await wait.wait()
        if slow:
            await asyncio.sleep(0.01)
        order.append(name)

    first = asyncio.create_task(processor.do_process_update(update(7), work("first", wait=first_may_finish)))
    await asyncio.sleep(0)
    second = asyncio.create_task(processor.do_process_update(update(7), work("second", slow=True)))
    await asyncio.sleep(0)
    first_may_finish.set()
    await asyncio.sleep(0)  # the first finishes and hands the lock to the second, not yet running
    third = asyncio.create_task(processor.do_process_update(update(7), work("third")))
    await asyncio.gather(first, second, third)
    assert order == ["first", "second", "third"]


async def test_telegram_a_busy_chat_does_not_hold_up_another_chat():
    """While one chat's update is stuck, another chat's update runs to the end."""
    processor, stuck, done = PerChatUpdateProcessor(), asyncio.Event(), []

    async def work(name: str, wait: asyncio.Event | None = None) -> None:
        if wait is not None:
            await wait.wait()
        done.append(name)

    blocked = asyncio.create_task(processor.do_process_update(update(1), work("chat 1", stuck)))
    await asyncio.wait_for(processor.do_process_update(update(2), work("chat 2")), 1)
    assert done == ["chat 2"]
    stuck.set()
    await blocked
