"""Several real `quotebot serve` processes on one PostgreSQL database: one bot (issue 14).

    with fresh_database() as url, BotApiStub(TOKEN, webhook_delivery=False) as stub:
        with ServeCluster(stub, url, tmp_path, workers=3) as cluster:
            update = stub.push_message(chat, "/start")          # made by the stub, not delivered
            cluster.post(1, stub.pending_update(update))        # POSTed to worker 1: its status
            cluster.kill(2); cluster.restart(2)                 # kill -9, and back on its port
            rows = cluster.query("SELECT count(*) FROM inbox")  # read the shared database

Each worker is `python -m bot serve` in Telegram webhook mode on a free loopback port of its
own, with the same bot token, webhook secret and database, and one Bot API stub playing
Telegram for all of them; the stub records which run of which worker made each call
(`Call.via == "w2.1"`: worker 2, first start). Every worker calls setWebhook at start (with
its own address; the stub keeps the last), so the stub must not deliver updates itself
(`webhook_delivery=False`):
the test plays the load balancer and decides which worker gets which update, as many times as
it likes. A post that gets no answer (the worker is dead or was killed mid-request) returns 0,
and the caller re-posts it elsewhere as Telegram would.

`fresh_database()` makes a new database on the throwaway server named by QUOTEBOT_TEST_PG_URL
(`make test` starts one) and drops it afterwards, so workers start from an empty schema and
migrate it themselves, as in a real first deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.support.backends import pg_server_url
from tests.support.botapi_stub import BotApiStub

TOKEN = "135790:CLUSTER-token-never-logged"
SECRET = "cluster-secret_0123456789-XYZ"
START_TIMEOUT = 60.0  # seconds for a worker to answer /healthz (three start at once on 2 cores)
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(server_url: str, name: str) -> str:
    """The server's URL with another database name."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _admin(server_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(server_url: str | None = None) -> Iterator[str]:
    """A new, empty database on the test server (skips or fails like pg_server_url when there
    is none); dropped afterwards, connections and all."""
    server_url = server_url or pg_server_url()
    name = f"quotebot_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield database_url(server_url, name)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def query(url: str, sql: str, *args: Any) -> list[dict]:
    """Rows of one query on the database, as dicts (jsonb decoded): for checks after a run."""
    import asyncpg

    async def run() -> list[dict]:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET `url`: its status and body, error statuses included (OSError when nothing answered)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def post_update(base_url: str, update: dict, *, secret: str | None = SECRET, timeout: float = 15.0) -> int:
    """POST one Telegram update to `base_url`/webhooks/telegram as Telegram does, with the secret
    header unless None: the HTTP status (OSError when nothing answered)."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    body = json.dumps(update, ensure_ascii=False).encode()
    request = urllib.request.Request(base_url + "/webhooks/telegram", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


class Worker:
    """One `quotebot serve` process; restartable on the same port. Its log (JSON lines, every
    run appended) is `log`."""

    def __init__(self, n: int, stub: BotApiStub, db_url: str, workdir: Path, env: dict[str, str]):
        self.n, self.port = n, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"worker-{n}.log"
        self.starts = 0
        self.stub = stub
        self.process: subprocess.Popen | None = None
        base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "LINE_", "QUOTEBOT_"))}
        self.env = base | {
            "TELEGRAM_BOT_TOKEN": stub.token,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "QUOTEBOT_PUBLIC_URL": self.url,
            "QUOTEBOT_LISTEN": f"127.0.0.1:{self.port}",
            "QUOTEBOT_DB": db_url,
            "QUOTEBOT_LOG_FORMAT": "json",
            **env,
        }

    def spawn(self) -> None:
        """Start the process (not waiting for it to be ready: see `wait_ready`)."""
        assert not self.alive, f"worker {self.n} is running"
        self.starts += 1
        # The stub records each Bot API call with the run that made it: "w<n>.<start>".
        env = self.env | {"TELEGRAM_API_BASE_URL": self.stub.via_base_url(self.via)}
        with self.log.open("a", encoding="utf-8") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve"], env=env, stdout=out, stderr=out, cwd=REPO
            )

    @property
    def via(self) -> str:
        """The name the stub records this run's calls under (`Call.via`): "w1.2" is worker 1's
        second start."""
        return f"w{self.n}.{self.starts}"

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.process is None or self.process.poll() is not None:
                code = self.process.returncode if self.process else None
                raise AssertionError(f"worker {self.n} exited with {code}:\n{self.log.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"worker {self.n} did not answer /healthz:\n{self.log.read_text()[-4000:]}"
                )
            time.sleep(0.1)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        return http_get(self.url + path, timeout)

    def post(self, update: dict, *, secret: str | None = SECRET, timeout: float = 15.0) -> int:
        """POST one update to /webhooks/telegram as Telegram does: its HTTP status, or 0 when no
        answer came (refused, reset, timed out: the update may or may not have been taken)."""
        try:
            return post_update(self.url, update, secret=secret, timeout=timeout)
        except OSError:
            return 0

    def kill(self) -> None:
        """kill -9: no clean-up of any kind (connections, leases and locks are left as they are)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM (a clean stop: requests and sends in flight finish); see `wait`."""
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 40.0) -> int | None:
        """The exit code once it exited (killed if it takes longer than `timeout`); None if it
        was never started."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            return None

    def stop(self, timeout: float = 40.0) -> int | None:
        """SIGTERM and wait: the exit code (0 is a clean stop)."""
        self.terminate()
        return self.wait(timeout)


class ServeCluster:
    """`workers` serve processes on one database and one stub. Use as a context manager: all
    start (and migrate the database) at once; at exit, any still running is stopped (SIGTERM,
    then SIGKILL)."""

    def __init__(self, stub: BotApiStub, db_url: str, workdir: Path, workers: int = 3, **env: str):
        if stub.webhook_delivery:
            raise ValueError("make the stub with webhook_delivery=False: the cluster posts updates itself")
        workdir.mkdir(parents=True, exist_ok=True)
        self.stub, self.db_url, self.workdir = stub, db_url, workdir
        self.workers = [Worker(n, stub, db_url, workdir, env) for n in range(workers)]

    def __enter__(self) -> ServeCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.workers)

    def __getitem__(self, n: int) -> Worker:
        return self.workers[n]

    def start(self) -> None:
        for worker in self.workers:
            worker.spawn()
        for worker in self.workers:
            worker.wait_ready()

    def post(self, n: int, update: dict, **kwargs: Any) -> int:
        return self.workers[n].post(update, **kwargs)

    def kill(self, n: int) -> None:
        self.workers[n].kill()

    def restart(self, n: int) -> None:
        """Start worker n again (after kill or stop) on its port, and wait until it is healthy."""
        self.workers[n].spawn()
        self.workers[n].wait_ready()

    def alive(self) -> list[int]:
        return [w.n for w in self.workers if w.alive]

    def stop(self) -> list[int | None]:
        """SIGTERM to every running worker at once; their exit codes (None: was not running)."""
        running = [w for w in self.workers if w.alive]
        for worker in running:
            worker.terminate()
        return [w.wait() if w in running else None for w in self.workers]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        for worker in self.workers:
            if worker.alive:
                worker.kill()

    def query(self, sql: str, *args: Any) -> list[dict]:
        return query(self.db_url, sql, *args)

    def logs(self) -> str:
        return "\n".join(w.log.read_text(errors="replace") for w in self.workers if w.log.exists())

    def log_events(self) -> list[dict]:
        """Every JSON log line of every worker (a line that is not JSON is kept as {"raw": line})."""
        events = []
        for line in self.logs().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                events.append({"raw": line})
        return events
