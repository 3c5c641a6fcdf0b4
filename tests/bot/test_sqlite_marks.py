"""Marking a message sent (SQLite) commits without waiting for an fsync: durable against a kill -9
at once, made power-safe by the next fsync of the WAL (a FULL commit that writes, or the store's
own soon after, or close). See bot/store/sqlite.py's docstring for what a power loss can cost."""

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

from bot.messages import Envelope, Key, Reply
from bot.store import sqlite as sqlite_store
from bot.store.sqlite import SqliteStore
from tests.support.transcript import Clock

NOW = Clock()()
CHAT = Key("console", "u1")


def _sent_at(path, row_id):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT sent_at FROM envelopes WHERE id = ?", (row_id,)).fetchone()[0]


def test_sqlite_marks_a_kill_right_after_marking_keeps_the_mark(tmp_path):
    """A process that marks a row sent and is killed with SIGKILL the next instant: the mark is
    in the file (a restart does not send the message again)."""
    path = tmp_path / "q.db"
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from bot.messages import Envelope, Key, Reply
        from bot.store.sqlite import SqliteStore
        from tests.support.transcript import Clock

        async def main():
            store = await SqliteStore.open({str(path)!r})
            now = Clock()()
            async with store.transaction() as tx:
                row = await tx.enqueue(Envelope(Key("console", "u1"), Reply("k", "hello")), now)
            print(row, flush=True)
            await store.mark_sent(row, now)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    row = int(done.stdout.split()[0])
    assert _sent_at(path, row) is not None


async def _store_with_row(tmp_path):
    store = await SqliteStore.open(tmp_path / "q.db")
    async with store.transaction() as tx:
        row = await tx.enqueue(Envelope(CHAT, Reply("k", "hello")), NOW)
    return store, row


def _wal_fsyncs(monkeypatch) -> list[str]:
    """Record each os.fsync the store makes, by the file's name."""
    synced: list[str] = []
    real = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(sqlite_store.os, "fsync", fsync)
    return synced


async def test_sqlite_marks_are_fsynced_soon_after_without_another_commit(tmp_path, monkeypatch):
    """No other commit follows a mark: the store fsyncs the WAL itself a moment later."""
    synced = _wal_fsyncs(monkeypatch)
    monkeypatch.setattr(sqlite_store, "MARK_SYNC_AFTER", 0.0)
    store, row = await _store_with_row(tmp_path)
    try:
        await store.mark_sent(row, NOW)
        while not synced:
            await asyncio.sleep(0.01)
        assert synced == [str(tmp_path / "q.db-wal")]
        assert _sent_at(tmp_path / "q.db", row) is not None
    finally:
        await store.close()
    assert len(synced) == 1  # nothing left to sync at close


async def test_sqlite_marks_a_full_commit_that_writes_makes_them_power_safe(tmp_path, monkeypatch):
    """A grouped commit that writes fsyncs the WAL, and with it the marks before it: the store
    then has nothing of its own to fsync, neither later nor at close."""
    synced = _wal_fsyncs(monkeypatch)
    store, row = await _store_with_row(tmp_path)
    try:
        await store.mark_sent(row, NOW)
        assert store._unsynced == 1

        async def work(tx):
            await tx.save_conversation(CHAT, {"v": 1}, NOW)

        await store.unit(work)
        assert store._unsynced == 0
    finally:
        await store.close()
    assert synced == []


async def test_sqlite_marks_close_fsyncs_what_is_left(tmp_path, monkeypatch):
    """A clean stop right after a mark leaves it power-safe."""
    synced = _wal_fsyncs(monkeypatch)
    store, row = await _store_with_row(tmp_path)
    await store.mark_sent(row, NOW)
    await store.close()
    assert synced == [str(tmp_path / "q.db-wal")]
