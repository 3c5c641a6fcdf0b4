"""The PostgreSQL benchmarks' kit (pg_workers, pg_scale, pgserver) works. Nothing here is timed.

On the tests' throwaway PostgreSQL (QUOTEBOT_TEST_PG_URL) instead of the benchmarks' own server,
and with a handful of chats instead of a hundred: the same code paths, quickly.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import pytest

from benchmarks import pg_scale, pg_workers
from benchmarks.common import QUOTE_TEXTS
from benchmarks.pgserver import BenchServer
from tests.support.backends import pg_server_url
from tests.support.serve_cluster import fresh_database, query


@pytest.fixture
def test_server(monkeypatch) -> BenchServer:
    monkeypatch.setenv("QUOTEBOT_BENCH_PG_URL", pg_server_url())
    return BenchServer().start()  # names the given server; starts nothing


async def test_pg_workers_round_drives_real_workers_to_the_quote(test_server):
    """Two serve workers on a fresh PostgreSQL database and one on SQLite: every chat's five
    posted updates are answered (the quote with its reference among its six messages, which
    `measure` checks), in both rounds, and every turn gives one latency, up to a message that
    arrived; the results name every setup."""
    for setup in (pg_workers.Setup("postgresql", 2, settle_ms=0), pg_workers.Setup("sqlite", 1)):
        measured = await pg_workers.measure(setup, test_server, chats=3, paced=2, warmup=1, think=0.05)
        for result, chats in ((measured.saturated, 3), (measured.paced, 2)):
            assert result.turns == chats * len(QUOTE_TEXTS) == len(result.latencies) == len(result.answered)
            assert all(latency > 0 for latency in result.latencies) and result.seconds > 0
            assert set(result.cpu) == {"workers", "postgres", "driver", "others"}
            assert result.cpu["workers"] > 0  # the workers' own processes were read
        figures = pg_workers._results(setup, [measured, measured])
        assert [r.metric.split(",")[0] for r in figures] == ["turns/s", "p99 turn latency"]


def test_pg_workers_counts_the_messages_each_typed_turn_answers():
    """TURN_MESSAGES is what `check` and the latency wait rely on: six messages in all, the
    quote (with its reference) being the fifth, answered by the last turn."""
    assert len(pg_workers.TURN_MESSAGES) == len(QUOTE_TEXTS) and sum(pg_workers.TURN_MESSAGES) == 6
    assert pg_workers.TURN_MESSAGES[-1] == 2
    assert [s.label for s in pg_workers.SETUPS if s.targeted] == [
        "SQLite, 1 worker",
        "PostgreSQL, 1 worker, settle 300 ms",
        "PostgreSQL, 2 workers, settle 300 ms",
        "PostgreSQL, 4 workers, settle 300 ms",
    ]


def test_pg_scale_fill_copies_the_sample_and_numbers_quotes_as_the_engine_does():
    """400 stored conversations (so that one falls on "today", the sample's day): one row each in
    conversations and quotes, the sample's transcript and five handled event ids each, quote
    references unique and every day's counter at its last number; then new and stored
    conversations get their quotes on the filled database (a reference taken twice would fail)."""
    size = 400
    with fresh_database() as url:
        rows = asyncio.run(pg_scale.fill(url, size))
        sample_lines = query(
            url, "SELECT count(*) AS n FROM transcript WHERE conversation = $1", pg_scale.SAMPLE
        )
        assert sample_lines[0]["n"] >= len(QUOTE_TEXTS)
        assert rows["conversations"] == rows["quotes"] == size
        assert rows["transcript"] == size * sample_lines[0]["n"] and rows["inbox"] == 5 * size
        assert query(url, "SELECT count(*) AS n FROM conversations")[0]["n"] == size + 1
        counters = {r["name"]: r["value"] for r in query(url, "SELECT name, value FROM counters")}
        days = query(url, "SELECT split_part(ref, '-', 2) AS day, count(*) AS n FROM quotes GROUP BY 1")
        assert counters == {f"Q-{d['day']}": d["n"] for d in days}
        today = "Q-" + pg_scale.NOW.strftime("%Y%m%d")
        assert counters[today] == 2  # the sample's quote and the copy n = 365 (6 h before "today")
        assert query(url, "SELECT count(DISTINCT state) AS n FROM conversations")[0]["n"] == 1
        latencies = asyncio.run(pg_scale.measure(url, size, seed=1, conversations=2))
        assert len(latencies) == 2 * 2 * len(QUOTE_TEXTS)
        made = 5 + 2 * 2  # measure's warm-up conversations, then two new and two stored ones
        assert query(url, "SELECT value FROM counters WHERE name = $1", today) == [{"value": 2 + made}]


def test_pg_scale_database_is_built_once_and_kept(test_server):
    """`built` builds a database the first time, and finds it (with its build time) after."""
    size = 20
    url, seconds, now = asyncio.run(pg_scale.built(test_server, size))
    try:
        assert now and seconds > 0
        again = asyncio.run(pg_scale.built(test_server, size))
        assert again == (url, seconds, False)
        assert query(url, "SELECT count(*) AS n FROM conversations")[0]["n"] == size + 1
    finally:
        asyncio.run(_drop(test_server.url("postgres"), url.rsplit("/", 1)[1]))


async def _drop(url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def test_pgserver_keeps_its_cluster_between_runs(monkeypatch):
    """The benchmarks' own server: initdb once, durable settings, data still there after a stop
    and a new start, and a second user of a running server shares it without stopping it."""
    pg_server_url()  # skips (or fails in CI) without PostgreSQL, as the other tests do
    monkeypatch.delenv("QUOTEBOT_BENCH_PG_URL", raising=False)
    folder = Path(tempfile.mkdtemp(prefix="quotebot-benchpg-"))
    folder.chmod(0o755)  # as root the server runs as postgres, which must reach it
    try:
        with BenchServer(folder / "pg") as server:
            assert query(server.url(), "SHOW fsync") == [{"fsync": "on"}]
            query(server.url(), "CREATE TABLE kept (n int)")
            query(server.url(), "INSERT INTO kept VALUES (7)")
            shared = BenchServer(folder / "pg").start()
            assert shared.port == server.port and not shared.started
            shared.stop()  # not its server: nothing stopped
            assert query(server.url(), "SELECT n FROM kept") == [{"n": 7}]
        assert not (folder / "pg" / "data" / "postmaster.pid").exists()
        with BenchServer(folder / "pg") as server:
            assert query(server.url(), "SELECT n FROM kept") == [{"n": 7}]
    finally:
        if (folder / "pg" / "data" / "postmaster.pid").exists():  # a failed check left it running
            leftover = BenchServer(folder / "pg")
            leftover.started = True
            leftover.stop()
        shutil.rmtree(folder, ignore_errors=True)
