"""Both stores under test: a SQLite file, and a throwaway PostgreSQL named by QUOTEBOT_TEST_PG_URL.

`make test` and .ci/run start a throwaway PostgreSQL cluster (.ci/postgres) and set the URL.
Without it, PostgreSQL tests are skipped on a developer's machine and fail in CI (CI is set):
nothing is skipped in CI for want of a server.
"""

from __future__ import annotations

import os

import pytest

PG_URL_VARIABLE = "QUOTEBOT_TEST_PG_URL"
BACKENDS = ("sqlite", "postgresql")


def pg_server_url() -> str:
    """The test server's URL, or skip (on a developer's machine) / fail (in CI)."""
    url = os.environ.get(PG_URL_VARIABLE, "").strip()
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {PG_URL_VARIABLE} is not: .ci/run must start PostgreSQL (.ci/postgres)")
    pytest.skip(f"no PostgreSQL: `make test` starts one, or set {PG_URL_VARIABLE}")


async def fresh_pg_url(*, empty: bool = False) -> str:
    """The test server with no rows left from an earlier test.

    Tables at the latest schema are emptied (DELETE and sequences restarted: for a few rows far
    quicker than TRUNCATE or new tables); anything else, or `empty=True`
    (a test of migrations), drops the `public` schema so the store starts from nothing.
    """
    import asyncpg

    from bot.store.postgres import migrations

    url = pg_server_url()
    conn = await asyncpg.connect(url, timeout=10)
    try:
        version = 0
        if await conn.fetchval("SELECT to_regclass('public.schema_migrations')") is not None:
            version = await conn.fetchval("SELECT coalesce(max(version), 0) FROM public.schema_migrations")
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            if r["tablename"] != "schema_migrations"
        ]
        if not empty and version == len(migrations()) and tables:
            sequences = await conn.fetch("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
            await conn.execute(
                "".join(f'DELETE FROM public."{t}";' for t in tables)
                + "".join(f'ALTER SEQUENCE public."{r["sequencename"]}" RESTART;' for r in sequences)
            )
        else:
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    return url


async def count_rows(store, table: str, where: str = "", *args) -> int:
    """COUNT(*) straight from the database, on either backend; `where` uses `?` placeholders."""
    sql = f"SELECT COUNT(*) FROM {table}" + (f" WHERE {where}" if where else "")
    if getattr(store, "_pool", None) is not None:  # PostgreSQL: $1, $2...
        parts = sql.split("?")
        sql = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
        async with store._pool.acquire() as conn:
            return await conn.fetchval(sql, *args)
    async with store._db.execute(sql, args) as cursor:
        return (await cursor.fetchone())[0]
