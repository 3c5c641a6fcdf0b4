"""The store: migrations, durability settings, deletion on request and retention."""

import sqlite3
from datetime import timedelta

import pytest

from bot.store import Store, StoreError
from tests.support.transcript import NOW, Chat


async def test_store_migrates_a_new_file_to_the_latest_schema(tmp_path):
    """A new database gets every numbered migration, in WAL mode."""
    store = await Store.open(tmp_path / "new.db")
    assert await store.schema_version() == 3
    await store.close()
    with sqlite3.connect(tmp_path / "new.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_store_refuses_a_database_from_a_newer_program(tmp_path):
    """A file migrated by a newer version is not silently used by an older one."""
    with sqlite3.connect(tmp_path / "future.db") as raw:
        raw.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer"):
        await Store.open(tmp_path / "future.db")


async def test_store_rolls_back_a_failed_unit_of_work(tmp_path):
    """An exception inside a transaction leaves nothing behind."""
    store = await Store.open(tmp_path / "r.db")
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.save_conversation("console:x", "console", {"v": 1}, NOW)
            raise RuntimeError("boom")
    async with store.transaction() as tx:
        assert await tx.load_conversation("console:x") is None
    await store.close()


async def finished_quote_and_ticket(chat: Chat) -> None:
    for step in ("/quote", "3億"):
        await chat.user(step)
    await chat.tap("retail")
    await chat.tap("rakuten")
    await chat.tap("done")
    await chat.user("ランサムウェアに感染しました")


async def count(app, table: str, conversation: str) -> int:
    column = "key" if table == "conversations" else "conversation"
    async with app.store.transaction() as tx:
        row = await tx._one(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (conversation,))
    return row[0]


async def test_store_delete_on_request_leaves_nothing(app, chat):
    """/delete confirmed removes the conversation, quotes, incidents and transcript."""
    await finished_quote_and_ticket(chat)
    async with app.store.transaction() as tx:
        await tx.enqueue("staff", {"topic_of": chat.conversation, "plain": "私の電話は090..."}, NOW)
        await tx.delete_conversation_data(chat.conversation)
        relayed = await tx._one("SELECT COUNT(*) FROM outbox WHERE destination = 'staff'")
    for table in ("conversations", "quotes", "incidents", "transcript"):
        assert await count(app, table, chat.conversation) == 0, table
    assert relayed[0] == 0


async def test_store_purge_forgets_only_stale_conversations(app, chat, clock):
    """Retention removes conversations untouched for the period, with their records; others stay."""
    await finished_quote_and_ticket(chat)
    clock.advance(days=400)
    fresh = Chat(app, conversation="console:fresh")
    await fresh.user("/quote")
    async with app.store.transaction() as tx:
        counts = await tx.purge(clock(), timedelta(days=365))
    assert counts["conversations"] == 1 and counts["quotes"] == 1 and counts["incidents"] == 1
    assert await count(app, "conversations", chat.conversation) == 0
    assert await count(app, "conversations", "console:fresh") == 1
    assert counts["processed_events"] > 0  # event ids older than a week


def test_store_purge_command_refuses_a_bad_period(tmp_path):
    """`quotebot purge --days 0` is one line on stderr and exit 2."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "bot", "purge", "--db", str(tmp_path / "p.db"), "--days", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "--days" in run.stderr
