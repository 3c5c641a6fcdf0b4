"""`quotebot serve`: settings, parts contributing routes and hooks, graceful stop, the real process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import aiohttp
import pytest
from aiohttp import web

from bot.settings import ConfigError
from bot.web import PARTS, Server, serve, web_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_web_settings_default_listen_and_public_url():
    """Unset, the server listens on 127.0.0.1:8080 and builds links on that address."""
    settings = web_settings({})
    assert (settings.host, settings.port, settings.public_url) == ("127.0.0.1", 8080, "http://127.0.0.1:8080")


def test_web_settings_public_url_and_ipv6():
    """QUOTEBOT_PUBLIC_URL is used as given (no trailing slash); [::1]:9000 is a valid listen address."""
    settings = web_settings(
        {"QUOTEBOT_LISTEN": "[::1]:9000", "QUOTEBOT_PUBLIC_URL": "https://bot.example.jp/"}
    )
    assert (settings.host, settings.port, settings.public_url) == ("::1", 9000, "https://bot.example.jp")
    assert web_settings({"QUOTEBOT_LISTEN": "0.0.0.0:80"}).public_url == "http://0.0.0.0:80"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"QUOTEBOT_LISTEN": "9999"}, "QUOTEBOT_LISTEN"),
        ({"QUOTEBOT_LISTEN": "localhost:http"}, "QUOTEBOT_LISTEN"),
        ({"QUOTEBOT_LISTEN": "127.0.0.1:70000"}, "QUOTEBOT_LISTEN"),
        ({"QUOTEBOT_PUBLIC_URL": "shop.example.com"}, "QUOTEBOT_PUBLIC_URL"),
        ({"QUOTEBOT_PUBLIC_URL": "ftp://shop.example.com"}, "QUOTEBOT_PUBLIC_URL"),
    ],
)
def test_web_settings_bad_values_are_named_not_echoed(env, name):
    """A bad address is refused by the setting's name; the value itself is not repeated."""
    with pytest.raises(ConfigError) as e:
        web_settings(env)
    assert name in str(e.value)
    assert next(iter(env.values())) not in str(e.value)


def test_web_parts_are_listed_in_one_place():
    """The shared app starts first (and so stops last); every part has a name."""
    names = [name for name, _ in PARTS]
    assert names[0] == "core"
    assert len(set(names)) == len(names)


async def test_web_graceful_stop_finishes_requests_in_flight(db):
    """On stop, a request in flight still gets its answer, and parts clean up after it, store last."""
    port = free_port()
    events: list[str] = []
    started = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        started.set()
        await asyncio.sleep(0.5)
        events.append("request finished")
        return web.Response(text="done")

    async def part(server: Server) -> bool:
        server.web.router.add_get("/slow", slow)

        async def running(_app):
            assert server.app is not None  # the shared app is open before any part starts
            events.append("part started")
            yield
            events.append("part stopped")

        server.web.cleanup_ctx.append(running)
        return True

    env = {"QUOTEBOT_LISTEN": f"127.0.0.1:{port}", "QUOTEBOT_DB": str(db)}
    stop = asyncio.Event()
    ready = asyncio.Event()
    serving = asyncio.create_task(
        serve(env, parts=(PARTS[0], ("test", part)), ready=lambda s: ready.set(), stop=stop)
    )
    await asyncio.wait_for(ready.wait(), 10)
    async with aiohttp.ClientSession() as http:
        request = asyncio.create_task(http.get(f"http://127.0.0.1:{port}/slow"))
        await asyncio.wait_for(started.wait(), 5)
        stop.set()
        response = await asyncio.wait_for(request, 5)
        assert response.status == 200 and await response.text() == "done"
    await asyncio.wait_for(serving, 10)
    assert events == ["part started", "request finished", "part stopped"]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass  # no longer listening


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "LINE_", "QUOTEBOT_"))}
    return {**env, **extra}


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"quotebot serve exited with {process.returncode}: {process.stderr.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("quotebot serve did not start listening")


def test_web_serve_process_stops_cleanly_on_sigterm(tmp_path):
    """The real `quotebot serve` listens on QUOTEBOT_LISTEN and exits 0 on SIGTERM."""
    port = free_port()
    env = _env(QUOTEBOT_LISTEN=f"127.0.0.1:{port}", QUOTEBOT_DB=str(tmp_path / "q.db"))
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_listening(port, process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    log = process.stderr.read()
    assert "listening on 127.0.0.1" in log and "stopped" in log


def test_web_serve_bad_setting_is_one_line_and_exit_2(tmp_path):
    """A bad QUOTEBOT_LISTEN stops `quotebot serve` before it listens: one line, exit 2."""
    env = _env(QUOTEBOT_LISTEN="nowhere", QUOTEBOT_DB=str(tmp_path / "q.db"))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "QUOTEBOT_LISTEN" in result.stderr


def test_web_serve_runs_the_telegram_side_when_its_token_is_set(tmp_path):
    """With TELEGRAM_BOT_TOKEN set, `quotebot serve` long-polls too: /start gets the menu; no token logged."""
    from tests.support.botapi_stub import BotApiStub

    token = "424242:SERVE-secret-token"
    port = free_port()
    with BotApiStub(token) as stub:
        env = _env(
            QUOTEBOT_LISTEN=f"127.0.0.1:{port}",
            QUOTEBOT_DB=str(tmp_path / "q.db"),
            TELEGRAM_BOT_TOKEN=token,
            TELEGRAM_API_BASE_URL=stub.base_url,
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            wait_listening(port, process)
            stub.push_message(555, "/start")
            menu = stub.wait_for_sent(555, 1, timeout=20)[-1]
            assert menu.text
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
    log = process.stderr.read()
    assert "on: core, ops, telegram, run" in log
    assert token not in log and "SERVE-secret" not in log
