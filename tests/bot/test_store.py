"""The SQLite store: migrations (old data carried over), durability settings, the purge command,
deletion and retention through real conversations. What every backend must do is in
test_store_contract.py."""

import json
import sqlite3
from datetime import timedelta

import pytest

from bot.messages import Envelope, Forward, Inbound, Key, Option, Reply, Staff
from bot.store import StoreError, open_store
from bot.store.sqlite import MIGRATIONS_DIR, SqliteStore
from tests.support.transcript import NOW, Chat


async def test_store_migrates_a_new_file_to_the_latest_schema(tmp_path):
    """A new database gets every numbered migration, in WAL mode."""
    store = await open_store(tmp_path / "new.db")
    assert await store.schema_version() == 6
    await store.close()
    with sqlite3.connect(tmp_path / "new.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_store_open_store_reads_sqlite_urls(tmp_path, monkeypatch):
    """ "sqlite:///rel.db" is relative to the working directory, as a plain path is."""
    monkeypatch.chdir(tmp_path)
    store = await open_store("sqlite:///rel.db")
    assert isinstance(store, SqliteStore) and (tmp_path / "rel.db").exists()
    await store.close()


async def test_store_refuses_a_database_from_a_newer_program(tmp_path):
    """A file migrated by a newer version is not silently used by an older one."""
    with sqlite3.connect(tmp_path / "future.db") as raw:
        raw.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer"):
        await open_store(tmp_path / "future.db")


def old_database(path) -> None:
    """A database as the previous version left it (schema 3), with a queued row of each shape."""
    with sqlite3.connect(path) as raw:
        for number in (1, 2, 3):
            (script,) = MIGRATIONS_DIR.glob(f"{number:04d}_*.sql")
            raw.executescript(script.read_text(encoding="utf-8"))
        raw.execute("PRAGMA user_version = 3")
        rows = [
            ("telegram:1", {"text": "<b>reminder</b>", "buttons": [["ck.I-1.a.1", "済"]]}, "remind:I-1:a"),
            ("telegram:1", {"plain": "staff said <hi> & bye"}, None),
            ("telegram:1", {"copy": {"from_chat_id": -100, "message_id": 7}}, None),
            ("staff", {"text": "🚨 alert"}, None),
            (
                "staff",
                {"topic_of": "telegram:1", "topic_name": "Taro", "text": "header", "reopen_topic": 1},
                None,
            ),
            ("staff", {"topic_of": "telegram:1", "close_topic": True}, None),
        ]
        stamp = "2026-11-22T01:00:00+00:00"
        for destination, payload, tag in rows:
            raw.execute(
                "INSERT INTO outbox (destination, payload, tag, not_before, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (destination, json.dumps(payload), tag, stamp, stamp),
            )
        raw.execute("INSERT INTO processed_events VALUES ('telegram:99', ?)", (stamp,))


async def test_store_migration_carries_old_outbox_rows_and_event_ids_over(tmp_path):
    """Queued messages of every old shape become envelopes; a seen event id is still seen."""
    old_database(tmp_path / "old.db")
    store = await open_store(tmp_path / "old.db")
    async with store.transaction() as tx:
        rows = await tx.due_outbox(NOW + timedelta(days=1))
        seen = await tx.add_inbound(Inbound(Key("telegram", "1"), "text", "x", event_id="telegram:99"), NOW)
    await store.close()
    user, desk = Key("telegram", "1"), Staff(Key("telegram", "1"))
    got = [(r.envelope.destination, r.envelope.kind, r.envelope.body, r.envelope.tag) for r in rows]
    assert got == [
        (
            user,
            "reminder",
            Reply("", "<b>reminder</b>", choices=_options([["ck.I-1.a.1", "済"]])),
            "remind:I-1:a",
        ),
        (user, "relay", Reply("", "staff said &lt;hi&gt; &amp; bye"), None),
        (user, "relay", Forward("telegram", "-100:7"), None),
        (Staff(), "alert", Reply("", "🚨 alert"), None),
        (desk, "ticket_open", Reply("", "header"), None),
        (desk, "ticket_close", Reply("", ""), None),
    ]
    assert rows[4].envelope.destination.title == "Taro"
    assert seen is None


def _options(pairs):
    return tuple(Option(t, label) for t, label in pairs)


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
    key = Key.parse(chat.conversation)
    async with app.store.transaction() as tx:
        await tx.enqueue(Envelope(Staff(key), Reply("", "私の電話は090..."), kind="relay"), NOW)
        await tx.delete_conversation_data(key)
        relayed = await tx._one("SELECT COUNT(*) FROM envelopes WHERE route = 'staff'")
    for table in ("conversations", "quotes", "incidents", "transcript"):
        assert await count(app, table, chat.conversation) == 0, table
    assert relayed[0] == 0


async def test_store_purge_forgets_only_stale_conversations(app, chat, clock):
    """Retention (the app's own, as run at start and daily, in batches) removes conversations
    untouched for the period (365 days by default), with their records; others stay."""
    await finished_quote_and_ticket(chat)
    clock.advance(days=400)
    fresh = Chat(app, conversation="console:fresh")
    await fresh.user("/quote")
    counts = await app.purge_once()
    assert counts["conversations"] == 1 and counts["quotes"] == 1 and counts["incidents"] == 1
    assert await count(app, "conversations", chat.conversation) == 0
    assert await count(app, "conversations", "console:fresh") == 1
    assert counts["handled events"] > 0  # event ids older than a week


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
