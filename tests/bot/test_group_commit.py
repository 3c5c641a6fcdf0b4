"""Group commit: turns ready together commit together (one fsync), still before any reply goes out.

A group whose commit fails writes nothing and sends none of its turns' replies; the events wait
in the inbox and are answered, once each and in order, when the store works again.
"""

import asyncio
import sqlite3

from bot.app import open_app
from bot.messages import Inbound, Key
from bot.store import CommitFailed
from bot.store.sqlite import SqliteStore
from tests.support.transcript import Clock, Recorder

CHATS = [Key("console", f"u{n}") for n in range(5)]


async def _app(tmp_path):
    app = await open_app(str(tmp_path / "q.db"), env={}, clock=Clock())
    recorder = Recorder()
    app.register("console", recorder)
    return app, recorder


def _events(texts: tuple[str, ...]) -> list[Inbound]:
    return [
        Inbound(key, "text", text, event_id=f"{key}:{n}", locale_hint="ja")
        for n, text in enumerate(texts)
        for key in CHATS
    ]


async def _pending(app) -> int:
    async with app.store.transaction() as tx:
        return len(await tx.pending_conversations(limit=100))


async def test_group_commit_failed_sends_no_reply_and_keeps_the_events(tmp_path, monkeypatch):
    """Five chats' turns go in one group; its COMMIT fails: no reply at all is sent, every event
    is still waiting. Once the disk works, each chat is answered once per message, in order."""
    app, recorder = await _app(tmp_path)
    commits: list[int] = []
    real_commit = SqliteStore._commit

    def failing_commit(self, conn):
        commits.append(1)
        raise sqlite3.OperationalError("disk I/O error")

    try:
        await app.engine.accept(_events(("/quote", "3億")))
        monkeypatch.setattr(SqliteStore, "_commit", failing_commit)
        await app.engine.settle(CHATS)
        assert commits, "the turns were not committed as a group"
        assert recorder.rows == []
        assert await _pending(app) == len(CHATS)

        monkeypatch.setattr(SqliteStore, "_commit", real_commit)
        await app.engine.settle(CHATS)
        for key in CHATS:
            keys = [row.body.key for row in recorder.rows if row.destination == key]
            assert keys == ["quote/revenue", "quote/industry"], key
        assert await _pending(app) == 0
    finally:
        await app.close()


async def test_group_commit_turns_ready_together_share_one_commit(tmp_path, monkeypatch):
    """Turns of different chats ready at the same moment are committed by fewer COMMITs than
    turns, and each chat's answers still come in the order it wrote."""
    app, recorder = await _app(tmp_path)
    commits: list[int] = []
    real_commit = SqliteStore._commit

    def counting_commit(self, conn):
        commits.append(1)
        real_commit(self, conn)

    monkeypatch.setattr(SqliteStore, "_commit", counting_commit)
    try:
        await app.engine.accept(
            _events(("/quote", "3億", "5億"))
        )  # the third is not an industry: asked again
        await app.engine.settle(CHATS)
        assert 0 < len(commits) < 3 * len(CHATS)
        for key in CHATS:
            texts = [row.body.text for row in recorder.rows if row.destination == key]
            assert len(texts) == 3, key
            assert "1/3" in texts[0] and "3億円" in texts[1] and "小売業" in texts[2], texts  # in order
    finally:
        await app.close()


async def test_group_commit_a_failing_turn_is_undone_alone(tmp_path, monkeypatch):
    """One turn of the group raises: its writes are rolled back to its savepoint and its user
    is told something went wrong; the other turns of the same group are committed and answered."""
    app, recorder = await _app(tmp_path)
    engine = app.engine
    real_turn = engine._turn

    async def turn(tx, inbound, *args):
        if inbound.conversation == CHATS[2]:
            await tx.save_conversation(inbound.conversation, {"broken": True}, engine.clock())
            raise RuntimeError("a bug in one dialog")
        return await real_turn(tx, inbound, *args)

    monkeypatch.setattr(engine, "_turn", turn)
    try:
        await engine.accept(_events(("/quote",)))
        await asyncio.wait_for(engine.settle(CHATS), 10)
        for key in CHATS:
            keys = [row.body.key for row in recorder.rows if row.destination == key]
            assert keys == (["common/error"] if key == CHATS[2] else ["quote/revenue"]), key
        async with app.store.transaction() as tx:
            assert await tx.load_conversation(CHATS[2]) is None  # the broken write was undone
    finally:
        await app.close()


async def test_group_commit_a_unit_that_waits_on_something_else_runs_the_ordinary_way(tmp_path):
    """A unit of work that awaits more than the transaction cannot run in the database thread;
    it runs again in a transaction of its own, and its writes are there once."""
    store = await SqliteStore.open(tmp_path / "q.db")
    runs: list[int] = []

    async def work(tx):
        runs.append(1)
        reference = await tx.next_reference("Q", "20261122")
        await asyncio.sleep(0)
        return reference

    try:
        assert await store.unit(work) == "Q-20261122-0001"  # the first try was rolled back
        assert len(runs) == 2
        async with store.transaction() as tx:
            assert await tx.next_reference("Q", "20261122") == "Q-20261122-0002"
    finally:
        await store.close()


async def _replied(recorder: Recorder, count: int) -> None:
    while len(recorder.rows) < count:
        await asyncio.sleep(0.01)


async def _started(app) -> None:
    """Until the inbox runner is live (it runs what accept brings at once)."""
    await app.start()
    while not app.engine.live:
        await asyncio.sleep(0)


async def test_group_commit_an_event_and_its_turn_share_one_commit(tmp_path):
    """A running bot (the inbox runner live) that is handed one message commits the event and
    the turn that answers it together: one COMMIT (one fsync) for both, and the answer is sent
    after it."""
    app, recorder = await _app(tmp_path)
    commits: list[int] = []
    db = app.store._db
    begun = [0]

    def statement(sql: str) -> None:
        """Every COMMIT of a transaction that changed rows, ordinary or grouped: what costs an
        fsync (called in the database thread, before each statement)."""
        verb = sql.strip().split(None, 1)[0].upper()
        if verb == "BEGIN":
            begun[0] = db._conn.total_changes
        elif verb == "COMMIT" and db._conn.total_changes != begun[0]:
            commits.append(len(recorder.rows))  # how many replies had gone out before it

    try:
        await _started(app)
        await db._execute(db._conn.set_trace_callback, statement)
        assert await app.engine.accept(_events(("/quote",))[:1]) == 1
        await asyncio.wait_for(_replied(recorder, 1), 10)
        assert [c for c in commits if c == 0] == [0]
        assert recorder.rows[0].body.key == "quote/revenue"
    finally:
        await app.close()


async def test_group_commit_an_event_whose_commit_fails_is_not_accepted_nor_answered(tmp_path, monkeypatch):
    """The group holding the event and its turn fails to commit: accept raises (the channel does
    not confirm, the platform sends it again), nothing is answered and nothing waits; the
    redelivery is answered once."""
    app, recorder = await _app(tmp_path)
    real_commit = SqliteStore._commit

    def failing_commit(self, conn):
        raise sqlite3.OperationalError("disk I/O error")

    event = _events(("/quote",))[:1]
    try:
        await _started(app)
        monkeypatch.setattr(SqliteStore, "_commit", failing_commit)
        try:
            await app.engine.accept(event)
        except CommitFailed:
            pass
        else:
            raise AssertionError("accept returned although nothing was committed")
        monkeypatch.setattr(SqliteStore, "_commit", real_commit)
        await asyncio.wait_for(app.engine.settle(), 10)
        assert recorder.rows == []
        assert await app.engine.accept(event) == 1  # the redelivery
        await asyncio.wait_for(_replied(recorder, 1), 10)
        await asyncio.wait_for(app.engine.settle(), 10)
        assert [row.body.key for row in recorder.rows] == ["quote/revenue"]
    finally:
        await app.close()
