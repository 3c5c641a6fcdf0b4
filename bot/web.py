"""`quotebot serve`: one aiohttp web server in front of every channel and feature.

What the server serves is the list `PARTS` below, nothing else. A part is a function
`install(server: Server) -> bool` that adds its routes to `server.web.router` and its start-up
and clean-up to `server.web.cleanup_ctx` (an async generator: code before `yield` runs at
start-up, after it at shutdown, in reverse order of installation), and returns whether it is on
(a channel without its settings stays off). The shared app (bot/app.py: store, engine, inbox
runner, outbox worker, daily purge) is opened first and closed last, so every part can use
`server.app` from its start-up on: `server.app.engine.accept(inbounds)` for what comes in (answer
the platform 2xx only after it returns), `server.app.register(route, sender)` for what goes out.
Its background work starts in the last part, "run", once every sender is registered.

    async def install(server):                 # e.g. in bot/channels/line.py
        server.web.router.add_post("/webhooks/line", handler)
        server.web.cleanup_ctx.append(running)  # start its worker; stop it at shutdown
        return True

Stopping (SIGTERM or SIGINT): the listening socket closes first, requests in flight are
finished (up to `SHUTDOWN_TIMEOUT`), then each part's clean-up runs (a channel lets the turns
it started finish), and the store is closed last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.settings import ConfigError

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8080"
SHUTDOWN_TIMEOUT = 30.0  # seconds a request in flight may take to finish once we are told to stop
TURNS_TIMEOUT = 20.0  # seconds the turns in flight may take to finish at shutdown


@dataclass(frozen=True)
class WebSettings:
    host: str
    port: int
    public_url: str  # no trailing slash; links users and platforms follow are built on it


def web_settings(env: Mapping[str, str]) -> WebSettings:
    """QUOTEBOT_LISTEN ("host:port", default 127.0.0.1:8080) and QUOTEBOT_PUBLIC_URL."""
    listen = env.get("QUOTEBOT_LISTEN", "").strip() or DEFAULT_LISTEN
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")  # [::1]:8080
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("QUOTEBOT_LISTEN must be host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080")
    public = env.get("QUOTEBOT_PUBLIC_URL", "").strip().rstrip("/")
    if public:
        parts = urlsplit(public)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError("QUOTEBOT_PUBLIC_URL must be an address such as https://bot.example.jp")
    else:
        shown = f"[{host}]" if ":" in host else host
        public = f"http://{shown}:{port}"
    return WebSettings(host, int(port), public)


@dataclass
class Server:
    """What a part gets: the aiohttp Application to add to, the settings, and the shared app."""

    web: web.Application
    settings: WebSettings
    env: Mapping[str, str]
    db_path: str | None = None
    app: App | None = None  # set at start-up, before any part's start-up runs
    on: list[str] = field(default_factory=list)  # names of the parts that are on, for the log
    # channel → async fetch(ref) -> (bytes, content type): a user's media, for the staff desk to post
    media_sources: dict[str, Callable[[str], Awaitable[tuple[bytes, str]]]] = field(default_factory=dict)

    def link(self, path: str) -> str:
        """An absolute address under QUOTEBOT_PUBLIC_URL."""
        return self.settings.public_url + "/" + path.lstrip("/")

    def background(self, coroutine: Awaitable[Any], name: str) -> Callable[[], Awaitable[None]]:
        """Run a task until the server stops; returns the function that cancels and awaits it."""
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        return stop


Part = Callable[[Server], Awaitable[bool]]
SERVER = web.AppKey("server", Server)  # request.app[SERVER] in a handler


async def _core(server: Server) -> bool:
    """The shared app: settings checked, data loaded, store opened first and closed last."""
    from bot.app import open_app
    from bot.settings import Settings

    Settings.from_env(server.env, server.db_path)  # a bad setting stops start-up before listening

    async def running(_web: web.Application) -> AsyncIterator[None]:
        server.app = await open_app(server.db_path, env=server.env)
        try:
            yield
        finally:
            await server.app.close()

    server.web.cleanup_ctx.append(running)
    return True


async def _run(server: Server) -> bool:
    """Last: once every channel has registered its senders, start the inbox runner, the outbox
    worker and retention; at shutdown (first), let the turns in flight finish, then stop them."""

    async def running(_web: web.Application) -> AsyncIterator[None]:
        await server.app.start()
        try:
            yield
        finally:
            in_flight = list(getattr(server.app.engine, "_running", {}).values())
            if in_flight:
                log.info("finishing %d turn(s) in flight", len(in_flight))
                await asyncio.wait(in_flight, timeout=TURNS_TIMEOUT)
            await server.app.close()

    server.web.cleanup_ctx.append(running)
    return True


async def _ops(server: Server) -> bool:
    """GET /healthz and GET /metrics (bot/ops.py), for the operator and the image's HEALTHCHECK."""
    from bot.ops import Ops, outbox_limit

    def alive(name: str) -> Callable[[], bool]:
        # Before the run part started them (or after it stopped them) the workers count as stopped.
        return lambda: server.app is not None and server.app.workers().get(name, False)

    async def figures():
        async with server.app.store.transaction() as tx:
            return await tx.ops_figures(server.app.engine.clock())

    workers = {"inbox": alive("inbox"), "outbox": alive("outbox")}
    Ops(figures, workers, outbox_seconds=outbox_limit(server.env)).register(server.web)
    return True


async def _line(server: Server) -> bool:
    from bot.channels.line import install

    return await install(server)


async def _telegram(server: Server) -> bool:
    from bot.channels.telegram_web import install

    return await install(server)


# Everything the server serves, in start-up order (shut down in reverse). Add a part here.
PARTS: tuple[tuple[str, Part], ...] = (
    ("core", _core),
    ("ops", _ops),
    ("line", _line),
    ("telegram", _telegram),
    ("run", _run),  # keep last: starts the engine once every sender is registered
)


async def build(
    env: Mapping[str, str] = os.environ,
    *,
    db_path: str | None = None,
    parts: tuple[tuple[str, Part], ...] = PARTS,
) -> Server:
    """The aiohttp Application with every part installed; settings are checked here, before listening."""
    server = Server(web.Application(), web_settings(env), env, db_path)
    server.web[SERVER] = server
    for name, install in parts:
        if await install(server):
            server.on.append(name)
    return server


async def serve(
    env: Mapping[str, str] = os.environ,
    *,
    db_path: str | None = None,
    parts: tuple[tuple[str, Part], ...] = PARTS,
    ready: Callable[[Server], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Listen until SIGTERM or SIGINT (or `stop` is set), then stop gracefully (see the module docstring)."""
    server = await build(env, db_path=db_path, parts=parts)
    runner = web.AppRunner(server.web, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()  # runs every part's start-up
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, server.settings.host, server.settings.port)
        await site.start()
        log.info(
            "listening on %s:%s (public address %s); on: %s",
            server.settings.host,
            server.settings.port,
            server.settings.public_url,
            ", ".join(server.on),
        )
        if ready is not None:
            ready(server)
        await stop.wait()
        log.info("stopping: no new requests, finishing those in flight")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        log.info("stopped")
