"""The benchmarks' own PostgreSQL server: a cluster kept between runs, durable as in production.

Unlike the tests' throwaway cluster (.ci/postgres: fsync off), this one keeps PostgreSQL's
defaults (fsync on, synchronous_commit on, full page writes), so a commit costs what it costs on
a real server; and its data directory is kept, so a database built once (1,000,000 stored
conversations) is there for the next run. It is started for a run and stopped after it.

    with BenchServer() as server:          # initdb the first time; start on a free loopback port
        url = server.url("postgres")       # postgresql://quotebot@127.0.0.1:PORT/postgres

Where: $QUOTEBOT_BENCH_PG_DIR, else `pg` in the benchmarks' cache ($QUOTEBOT_BENCH_CACHE,
~/.cache/quotebot-bench). As root the server runs as the `postgres` user, which cannot enter
root's home (mode 700), so there the default is /var/cache/quotebot-bench/pg instead.
$QUOTEBOT_BENCH_PG_URL names a server of your own instead (nothing is started then).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

USER = "quotebot"


def find_bin() -> Path:
    """The folder of initdb and pg_ctl (Debian keeps them off PATH), as .ci/postgres finds it."""
    named = os.environ.get("QUOTEBOT_PG_BIN")
    candidates = [Path(named)] if named else []
    if not named:
        on_path = shutil.which("pg_ctl")
        if on_path and shutil.which("initdb"):
            candidates.append(Path(os.path.realpath(on_path)).parent)
        versions = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
        )
        candidates += versions
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise RuntimeError("PostgreSQL's initdb/pg_ctl not found (sudo .ci/postgres install)")


def default_dir() -> Path:
    if named := os.environ.get("QUOTEBOT_BENCH_PG_DIR"):
        return Path(named)
    if os.geteuid() == 0:
        return Path("/var/cache/quotebot-bench/pg")
    cache = os.environ.get("QUOTEBOT_BENCH_CACHE") or Path.home() / ".cache" / "quotebot-bench"
    return Path(cache) / "pg"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BenchServer:
    def __init__(self, folder: Path | None = None):
        self.given = os.environ.get("QUOTEBOT_BENCH_PG_URL", "").strip() or None
        self.folder = folder or default_dir()
        self.data = self.folder / "data"
        self.port: int | None = None
        self.started = False

    def _as_owner(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(self._as_owner(command), capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(
                f"{Path(command[0]).name} failed: {(done.stderr or done.stdout).strip()[-2000:]}"
            )

    def start(self) -> BenchServer:
        if self.given:
            return self
        binaries = find_bin()
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        if not (self.data / "PG_VERSION").exists():
            initdb = [str(binaries / "initdb"), f"--pgdata={self.data}", f"--username={USER}"]
            self._run([*initdb, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"])
        running = self._running_port()
        if running is not None:  # another run of the benchmarks started it: share it, leave it on
            self.port = running
            return self
        self.port = _free_port()
        options = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
            " -c max_connections=200"  # 4 workers x a pool of 10, the measuring side, and room
        )
        pg_ctl = [str(binaries / "pg_ctl"), f"--pgdata={self.data}", f"--log={self.folder / 'server.log'}"]
        self._run([*pg_ctl, "--wait", "--silent", "-o", options, "start"])
        self.started = True
        return self

    def stop(self) -> None:
        if self.started:
            self._run([str(find_bin() / "pg_ctl"), f"--pgdata={self.data}", "--wait", "--silent", "stop"])
            self.started = False

    def __enter__(self) -> BenchServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def url(self, database: str = "postgres") -> str:
        if self.given:
            return with_database(self.given, database)
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _running_port(self) -> int | None:
        """The port of a server already running on this data directory (postmaster.pid: pid,
        directory, start time, port, ...), or None."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
            os.kill(int(lines[0]), 0)
            return int(lines[3])
        except (OSError, ValueError, IndexError):
            return None

    def postmaster(self) -> int | None:
        """The server's main process id (its children are the backends), when it is ours."""
        if self.given:
            return None
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
