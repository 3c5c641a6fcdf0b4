"""The side-by-side kit: the baseline bots do what quotebot does, and persist as they claim. Not timed."""

import pickle

from benchmarks.baseline import MENU, NAME, REVENUE
from benchmarks.common import QUOTE_TURNS
from benchmarks.contenders import FIRST_CHAT, Baseline, Ours
from benchmarks.floor import KINDS, sqlite_time
from benchmarks.versus import SEQUENTIAL_CONVERSATIONS, one_after_another
from bot.store.sqlite import SqliteStore
from bot.store.sqlite_queries import _Here

CHAT = 42
MESSAGES = (1, 1, 1, 1, 2)


async def _talk(bot, turns=QUOTE_TURNS, chat=CHAT) -> list[dict]:
    """The quote dialog through `bot`; the Bot API calls each update made."""
    calls = []
    owed = len(bot.api.sent[chat])
    for (kind, text), messages in zip(turns, MESSAGES, strict=False):
        before = dict(bot.api.calls)
        owed += messages
        bot.feed(bot.updates([(chat, kind, text)]))
        await bot.api.wait_chat(chat, owed, 10)
        await bot.idle(10)
        calls.append({k: v - before.get(k, 0) for k, v in bot.api.calls.items() if v != before.get(k, 0)})
    return calls


async def test_versus_baselines_make_the_same_bot_api_calls_and_say_the_same(tmp_path):
    """Per update, each baseline form calls the Bot API as quotebot does, each message under the
    same heading (the words are quotebot's templates; the dialogs may change theirs)."""
    ours = Ours(tmp_path)
    await ours.open()
    try:
        expected = await _talk(ours)
    finally:
        await ours.close()
    assert expected[2] == {"answerCallbackQuery": 1, "sendMessage": 1}
    assert expected[3] == {"answerCallbackQuery": 1, "editMessageText": 1}
    assert expected[4] == {"answerCallbackQuery": 1, "sendMessage": 2}
    said = [text.partition("\n")[0] for _, text, _ in ours.api.sent[CHAT]]  # each message's heading
    for form in ("default", "pickle", "fsync"):
        baseline = Baseline(tmp_path, form)
        await baseline.open()
        try:
            assert await _talk(baseline) == expected, form
        finally:
            await baseline.close()
        assert [text.partition("\n")[0] for _, text, _ in baseline.api.sent[CHAT]] == said, form


async def test_versus_returning_chats_tap_the_keyboard_they_are_shown(tmp_path):
    """The benchmark's chats are stored ones whose keyboard version is not 0, and each round
    talks again: quotebot gets the quote each time (a stale tap would get the question again)."""
    ours = Ours(tmp_path)
    await ours.prepare(2)
    await ours.open()
    try:
        for _ in range(2):
            await _talk(ours, chat=FIRST_CHAT)
        backlog = ours.updates([(FIRST_CHAT + 1, kind, text) for kind, text in QUOTE_TURNS] * 2)
        ours.feed(backlog)  # a backlog: two whole dialogs of one chat queued at once
        await ours.api.wait_chat(FIRST_CHAT + 1, 2 * sum(MESSAGES), 20)
        await ours.idle(10)
    finally:
        await ours.close()
    for chat, dialogs in ((FIRST_CHAT, 2), (FIRST_CHAT + 1, 2)):
        sent = [text for _, text, _ in ours.api.sent[chat]]
        assert len(sent) == dialogs * sum(MESSAGES), sent
        results = [text for text in sent if text.startswith("<b>お見積り Q-")]
        assert len(results) == dialogs, sent


def _state(path) -> object:
    with open(path, "rb") as file:
        return pickle.load(file)["conversations"][NAME].get((CHAT, CHAT))


async def test_versus_durable_forms_write_the_state_after_each_update(tmp_path):
    """pickle and fsync forms have the new state on disk once an update is answered (no .tmp
    left behind); the default form keeps it in memory until its 60 s flush."""
    for form in ("pickle", "fsync", "default"):
        bot = Baseline(tmp_path, form)
        await bot.open()
        try:
            await _talk(bot, QUOTE_TURNS[:1])
            on_disk = _state(bot.path) if bot.path.exists() else None
            assert on_disk == (None if form == "default" else REVENUE), form
            await _talk(bot, QUOTE_TURNS[1:])
        finally:
            await bot.close()  # PTB writes everything at stop, whatever the form
        assert _state(bot.path) == MENU
        assert not list(tmp_path.glob("*.tmp"))


async def test_floor_counts_every_kind_of_sqlite_call_a_dialog_makes(tmp_path):
    """benchmarks/floor.py times the store's seams (statements on the event loop, marks, group
    COMMITs): a quote dialog through quotebot passes each of them, and the seams are the store's
    own again afterwards (a renamed seam fails here, not as a silent 0 ms in the bench)."""
    originals = (SqliteStore._mark_unsynced, SqliteStore._commit, _Here.execute_fetchall)
    ours = Ours(tmp_path)
    await ours.open()
    try:
        with sqlite_time() as spent:
            await _talk(ours)
    finally:
        await ours.close()
    for kind in KINDS:
        assert spent[f"{kind} calls"] > 0 and spent[kind] > 0, kind
    assert spent["marks calls"] == len(ours.api.sent[CHAT]) + 3  # each message and tap answer, once
    assert (SqliteStore._mark_unsynced, SqliteStore._commit, _Here.execute_fetchall) == originals


async def test_versus_times_each_tap_to_its_answer(tmp_path):
    """The spinner figure: one sample per tap of the round (three a dialog), each from the tap's
    hand-over to its callback answer, for quotebot (answered early) and the baseline alike."""
    for bot in (Ours(tmp_path), Baseline(tmp_path, "default")):
        await bot.prepare(SEQUENTIAL_CONVERSATIONS)
        await bot.open()
        try:
            taps: list[float] = []
            await one_after_another(bot, taps)
        finally:
            await bot.close()
        assert len(taps) == 3 * SEQUENTIAL_CONVERSATIONS and all(0 < t < 5 for t in taps), bot.label
