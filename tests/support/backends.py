"""Both stores under test: a SQLite file, and a throwaway PostgreSQL named by QUOTEBOT_TEST_PG_URL.

`make test` and .ci/run start a throwaway PostgreSQL cluster (.ci/postgres) and set the URL.
Without it, PostgreSQL tests are skipped on a developer's machine and fail in CI (CI is set):
nothing is skipped in CI for want of a server.
"""

from __future__ import annotations

import os

import pytest

PG_URL_VARIABLE = "QUOTEBOT_TEST_PG_URL"


def pg_server_url() -> str:
    """The test server's URL, or skip (on a developer's machine) / fail (in CI)."""
    url = os.environ.get(PG_URL_VARIABLE, "").strip()
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {PG_URL_VARIABLE} is not: .ci/run must start PostgreSQL (.ci/postgres)")
    pytest.skip(f"no PostgreSQL: `make test` starts one, or set {PG_URL_VARIABLE}")
