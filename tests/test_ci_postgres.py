"""The throwaway PostgreSQL that `make test` and CI start (.ci/postgres) is there and usable."""

import os
import subprocess

import asyncpg

from tests.support.backends import PG_URL_VARIABLE, pg_server_url


async def test_ci_postgres_server_answers_as_a_superuser_on_loopback():
    """The URL reaches a PostgreSQL 13 or newer on 127.0.0.1, where the tests may create anything."""
    url = pg_server_url()
    conn = await asyncpg.connect(url, timeout=10)
    try:
        assert conn.get_server_version().major >= 13
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
        assert await conn.fetchval("SELECT current_database()") == "quotebot"
    finally:
        await conn.close()


def test_ci_postgres_run_without_a_server_fails_in_ci(tmp_path):
    """In CI a missing PostgreSQL is a failure, never a silent skip."""
    env = {k: v for k, v in os.environ.items() if k != PG_URL_VARIABLE}
    env.update(CI="true", QUOTEBOT_PG_BIN=str(tmp_path))  # no initdb/pg_ctl in there
    run = subprocess.run(
        ["/bin/bash", ".ci/postgres", "run", "/bin/true"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 1 and "CI" in run.stderr
