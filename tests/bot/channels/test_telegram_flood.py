"""One chat's flood is answered, not amplified (issue 15): every update is committed to the inbox
(nothing lost), but a user's events waiting beyond FLOOD_KEEP get no turn each; the chat is told
once, in its language (common/flood), and other chats are answered as usual.

Through the real PTB Bot and our Telegram channel, answered by the Bot API stub in-process, the
updates taken in one batch as polling hands them over.
"""

import pytest
from telegram import Update

from bot.engine import FLOOD_KEEP
from tests.support.backends import count_rows
from tests.support.botapi_stub import BotApiStub
from tests.support.offline import OfflineTelegram, send_owed
from tests.support.transcript import Clock, open_chat_app

TOKEN = "123:ABC"
FLOODER, ENGLISH, CALM = 4242, 4343, 4444
# templates/{ja,en}/common/flood.j2 and help.j2, as the user sees them.
NOTICE_JA = "メッセージが一度にたくさん届いたため、途中から先の分にはお返事していません。"
HELP_JA = "<b>使い方</b>"
NOTICE_EN = "Many messages arrived at once, so I have not answered the later ones."


@pytest.fixture
def stub():
    with BotApiStub(TOKEN) as stub:
        yield stub


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
async def telegram(tmp_path, stub, clock):
    app = await open_chat_app(tmp_path / "q.db", clock)
    try:
        async with OfflineTelegram(app.engine, stub) as telegram:
            yield telegram
    finally:
        await app.close()


async def answered(telegram, clock, updates) -> None:
    """Take one batch of updates as polling would, run their turns, and send everything owed,
    moving the clock past Telegram's one-message-a-second-per-chat pace as the outbox asks."""
    assert await telegram.channel.take(updates) == len(updates)  # all committed
    await telegram.engine.settle()
    await send_owed(telegram.engine, clock)


async def test_a_flood_gets_keep_plus_one_turns_and_one_notice_and_everything_is_committed(
    telegram, stub, clock
):
    assert FLOOD_KEEP == 20  # the figures below are worked out for it
    ids = [stub.push_message(FLOODER, "/help") for _ in range(30)]
    ids += [stub.push_message(ENGLISH, "/help", language_code="en") for _ in range(22)]
    ids += [stub.push_message(CALM, "/help")]
    await answered(telegram, clock, [Update.de_json(stub.pending_update(i), telegram.bot) for i in ids])

    # The calm chat's one /help: what one turn answers (the help, then the menu).
    one_turn = [m.text for m in stub.sent(CALM)]
    # The flooder: the first event's turn, then the 20 waiting after it; the other 9 set
    # aside, told once, right after the first turn's answer (that commit set them aside).
    flooder = [m.text for m in stub.sent(FLOODER)]
    told = [n for n, text in enumerate(flooder) if text.startswith(NOTICE_JA)]
    assert told == [len(one_turn)]
    assert flooder[: told[0]] == one_turn and len(flooder) == len(one_turn) * (1 + FLOOD_KEEP) + 1
    assert sum(text.startswith(HELP_JA) for text in flooder) == 1 + FLOOD_KEEP
    # 22 from an English user: 21 answered, one set aside, told in English.
    english = [m.text for m in stub.sent(ENGLISH)]
    assert len(english) == len(one_turn) * (1 + FLOOD_KEEP) + 1
    assert english[len(one_turn)].startswith(NOTICE_EN)

    store = telegram.engine.store
    for chat, total, aside in ((FLOODER, 30, 9), (ENGLISH, 22, 1), (CALM, 1, 0)):
        key = f"telegram:{chat}"
        assert await count_rows(store, "inbox", "conversation = ?", key) == total
        assert await count_rows(store, "inbox", "conversation = ? AND done_at IS NULL", key) == 0
        assert await count_rows(store, "inbox", "conversation = ? AND error = 'flood'", key) == aside


async def test_a_later_flood_is_told_again(telegram, stub, clock):
    """Told once per flood: once the chat's events have all been handled, a new flood is told."""
    for _ in range(2):
        ids = [stub.push_message(FLOODER, "/help") for _ in range(FLOOD_KEEP + 2)]
        await answered(telegram, clock, [Update.de_json(stub.pending_update(i), telegram.bot) for i in ids])
    texts = [m.text for m in stub.sent(FLOODER)]
    told = [n for n, text in enumerate(texts) if text.startswith(NOTICE_JA)]
    per_flood = len(texts) // 2  # each flood: 21 turns' answers and its one notice
    assert len(texts) == 2 * per_flood and told == [told[0], told[0] + per_flood]
