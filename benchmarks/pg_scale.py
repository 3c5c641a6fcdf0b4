"""Per-turn cost on PostgreSQL with 10,000 and with 1,000,000 stored conversations.

`scale` (SQLite) asks the same up to 100k. Here each size is its own database on the
benchmarks' PostgreSQL server (benchmarks/pgserver.py: durable settings, kept between runs),
built once with SQL: one real quote conversation is run through the engine, then its rows are
copied with `generate_series` (`INSERT ... SELECT`, one statement a table): each stored
conversation has that state, its saved quote (references numbered per day as the engine numbers
them, counters carried on), the conversation's transcript rows and five handled update ids,
spread over the year before "today". Then VACUUM ANALYZE, as autovacuum would have. The
database is named after a hash of the PostgreSQL migrations and of the fill, so a schema
change rebuilds it; how long the build took is kept with it and reported.

At each size the real engine (in this process, through the same `accept` and turn path as the
channels, on a pool of QUOTEBOT_DB_POOL connections) serves 40 new conversations and 40 stored
ones starting /quote again, in two rounds interleaved with the other size's, and we take the
median and p95 of one turn (accept to sent).
Telegram's settle window is not in these turns (the events carry no platform order): this is
the store's cost, the window's is in `pg_workers`.

TARGETS: median per turn at 1M / at 10k < 1.5; p95 at 1M < 10 ms (engine.py's per-turn
budget). Why: as in `scale`, every query on a turn's path must be a keyed lookup; 100x more rows
through a scan would show as a ratio far above 1.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from pathlib import Path

from benchmarks.common import NOW, FixedClock, Replies, Result, Stats, Target, fmt, ms, quote_conversation
from benchmarks.pgserver import BenchServer, with_database

AREA_TIMEOUT = 3600.0  # the first run builds the 1M database
SIZES = (10_000, 1_000_000)
RATIO_TARGET = Target("<", 1.5, "x")
P95_TARGET = Target("<", 10.0, "ms")
ROUNDS = 2
CONVERSATIONS_PER_ROUND = 20  # new ones, and as many stored ones: 40 + 40 at each size in all
SAMPLE = "telegram:1"
FIRST_KEY = 10_000_000  # stored conversations are telegram:10000001 ...
FIRST_UPDATE = 500_000_000
ROOT_DIR = Path(__file__).resolve().parent.parent
BYTES_PER_CONVERSATION = 12_000  # measured ~8.5 KB on disk with indexes; the check keeps a margin

# The fill, one statement a table, with its parameters: the sample conversation, how many
# copies, "today". Moments: n days and n minutes before today, as scale.py spreads them.
ALL = ("sample", "size", "today")


def moment(today: str = "$3") -> str:
    return f"({today}::timestamptz - make_interval(days => n % 365, mins => n % 1440))"


MOMENT = moment()
FILL: dict[str, tuple[str, tuple[str, ...]]] = {
    "conversations": (
        f"""INSERT INTO conversations (key, channel, state, created_at, updated_at)
        SELECT 'telegram:' || ({FIRST_KEY} + n), 'telegram', s.state, {MOMENT}, {MOMENT}
        FROM generate_series(1, $2::int) AS n, (SELECT state FROM conversations WHERE key = $1) AS s""",
        ALL,
    ),
    # References as the engine makes them: Q-<JST day>-<number that day>, after those it issued.
    "quotes": (
        f"""WITH made AS (
            SELECT n, {MOMENT} AS at, to_char({MOMENT} AT TIME ZONE 'Asia/Tokyo', 'YYYYMMDD') AS day
            FROM generate_series(1, $2::int) AS n
        ),
        numbered AS (
            SELECT n, at, day, row_number() OVER (PARTITION BY day ORDER BY n)
                   + coalesce((SELECT value FROM counters WHERE name = 'Q-' || day), 0) AS number
            FROM made
        )
        INSERT INTO quotes (ref, conversation, created_at, quote)
        SELECT 'Q-' || day || '-' || lpad(number::text, 4, '0'), 'telegram:' || ({FIRST_KEY} + n), at,
               (SELECT quote FROM quotes WHERE conversation = $1 LIMIT 1)
        FROM numbered""",
        ALL,
    ),
    "counters": (
        """INSERT INTO counters (name, value)
        SELECT 'Q-' || split_part(ref, '-', 2), max(split_part(ref, '-', 3)::bigint)
        FROM quotes GROUP BY 1
        ON CONFLICT (name) DO UPDATE SET value = excluded.value""",
        (),
    ),
    "transcript": (
        f"""INSERT INTO transcript (conversation, at, speaker, text)
        SELECT 'telegram:' || ({FIRST_KEY} + n), {MOMENT}, s.speaker, s.text
        FROM generate_series(1, $2::int) AS n,
             (SELECT speaker, text FROM transcript WHERE conversation = $1) AS s""",
        ALL,
    ),
    "inbox": (
        f"""INSERT INTO inbox (event_id, conversation, received_at, arrived_at, done_at)
        SELECT 'telegram:' || ({FIRST_UPDATE} + n * 5 + k), '', {moment("$2")}, {moment("$2")}, {moment("$2")}
        FROM generate_series(1, $1::int) AS n, generate_series(0, 4) AS k""",
        ("size", "today"),
    ),
}


def fingerprint() -> str:
    """The PostgreSQL schema and the fill: change either and the databases are rebuilt (other
    edits to this file keep them)."""
    digest = hashlib.sha256(json.dumps([NOW.isoformat(), FIRST_KEY, FIRST_UPDATE, FILL]).encode())
    for path in sorted((ROOT_DIR / "bot" / "migrations_pg").glob("*.sql")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:10]


def key(n: int) -> str:
    return f"telegram:{FIRST_KEY + n}"


async def open_bench_app(url: str):
    """The real app on `url`, with the benchmarks' sender (common.Replies) on the telegram route."""
    from bot.app import open_app

    app = await open_app(url, env={"QUOTEBOT_SETTLE_MS": "0"}, clock=FixedClock())
    app.replies = Replies()  # type: ignore[attr-defined]
    app.register("telegram", app.replies)  # type: ignore[attr-defined]
    return app


async def fill(url: str, size: int) -> dict[str, int]:
    """Migrate the empty database at `url`, run the sample conversation, copy it `size` times."""
    import asyncpg

    app = await open_bench_app(url)
    try:
        await quote_conversation(app, SAMPLE)
    finally:
        await app.close()
    conn = await asyncpg.connect(url, timeout=30)
    try:
        await conn.execute("SET synchronous_commit = off")  # a fixture: no need to wait for each flush
        rows = {}
        async with conn.transaction():
            values = {"sample": SAMPLE, "size": size, "today": NOW}
            for table, (sql, names) in FILL.items():
                status = await conn.execute(sql, *(values[name] for name in names))
                rows[table] = int(status.rsplit(" ", 1)[1])
        await conn.execute("VACUUM ANALYZE")
        return rows
    finally:
        await conn.close()


async def built(server: BenchServer, size: int) -> tuple[str, float, bool]:
    """The URL of the database with `size` stored conversations, its build's seconds, and
    whether it was built now (False: kept from an earlier run)."""
    import asyncpg

    name = f"bench_{size}_{fingerprint()}"
    admin = await asyncpg.connect(server.url("postgres"), timeout=30)
    try:
        url = with_database(server.url(), name)
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            conn = await asyncpg.connect(url, timeout=30)
            try:
                if await conn.fetchval("SELECT to_regclass('bench_fixture')"):
                    seconds = await conn.fetchval("SELECT seconds FROM bench_fixture WHERE size = $1", size)
                    if seconds is not None:
                        return url, seconds, False
            finally:
                await conn.close()
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # a build that did not finish
        # Old builds (another schema or filler) go first: the 1M one takes ~10 GB.
        for (old,) in await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname <> $2", f"bench_{size}_%", name
        ):
            await admin.execute(f'DROP DATABASE "{old}" WITH (FORCE)')
        if server.given is None:
            free = shutil.disk_usage(server.folder).free
            if free < size * BYTES_PER_CONVERSATION:
                raise RuntimeError(
                    f"{size:,} conversations need ~{size * BYTES_PER_CONVERSATION / 1e9:.0f} GB;"
                    f" {free / 1e9:.0f} GB free under {server.folder} (QUOTEBOT_BENCH_PG_DIR)"
                )
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    start = time.perf_counter()
    rows = await fill(url, size)
    seconds = time.perf_counter() - start
    conn = await asyncpg.connect(url, timeout=30)
    try:
        await conn.execute("CREATE TABLE bench_fixture (size int, seconds float8, rows jsonb)")
        await conn.execute("INSERT INTO bench_fixture VALUES ($1, $2, $3)", size, seconds, json.dumps(rows))
    finally:
        await conn.close()
    return url, seconds, True


async def measure(url: str, size: int, seed: int, conversations: int) -> list[float]:
    """Per-turn seconds of `conversations` new and as many returning ones, alternating, on the
    database at `url` (holding `size` stored conversations)."""
    app = await open_bench_app(url)
    try:
        rng = random.Random(seed)
        for _ in range(5):  # warm-up: the pool's connections, their caches, jinja2's templates
            await quote_conversation(app, key(rng.randrange(1, size + 1)))
        latencies: list[float] = []
        for n in rng.sample(range(1, size + 1), conversations):
            # a chat never seen (another number each run), then a stored one starting /quote again
            await quote_conversation(app, f"telegram:{rng.randrange(10**9, 2 * 10**9)}", latencies)
            await quote_conversation(app, key(n), latencies)
        return latencies
    finally:
        await app.close()


async def database_bytes(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=30)
    try:
        return await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()


async def run() -> list[Result]:
    results: list[Result] = []
    with BenchServer() as server:
        databases = {size: await built(server, size) for size in SIZES}
        latencies: dict[int, list[float]] = {size: [] for size in SIZES}
        seed = int(time.time())
        for r in range(ROUNDS):  # interleaved, so the machine's drift hits both sizes alike
            for size in SIZES:
                url = databases[size][0]
                latencies[size] += await measure(url, size, seed + r, CONVERSATIONS_PER_ROUND)
        medians = {}
        for size, (url, seconds, now) in databases.items():
            stats = Stats.of(latencies[size])
            medians[size] = stats.median
            size_gb = await database_bytes(url) / 1e9
            how = "built now" if now else "kept from an earlier run, built"
            detail = f"median {fmt(ms(stats.median))} ms, {stats.n} turns; {size_gb:.1f} GB"
            detail += f", {how} in {seconds:,.0f} s"
            results.append(
                Result("pg_scale", f"p95 per turn at {size:,} stored", ms(stats.p95), P95_TARGET, detail)
            )
    small, large = SIZES[0], SIZES[-1]
    results.append(
        Result(
            "pg_scale",
            f"median per turn {large:,} / {small:,}",
            medians[large] / medians[small],
            RATIO_TARGET,
            " · ".join(f"{s:,}: {fmt(ms(m))} ms" for s, m in medians.items())
            + f"; {ROUNDS} rounds interleaved",
        )
    )
    return results
