"""The console channel: the same engine and dialogs in a terminal, no account, no network.

Buttons are listed one per line, numbered from 1; the user types a number, a label or free
text. Piped input (not a terminal) is read line by line until EOF, printing every bot
message, so scripted sessions work. Files (an incident record) are saved next to the
database and their path printed. In a terminal, queued messages for this user (reminders,
a staff member's answer) are printed as they fall due.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import TextIO

from bot.engine import Engine
from bot.markup import to_plain
from bot.messages import Inbound, Outcome, Reply
from bot.outbox import OutboxWorker


def format_reply(reply: Reply, saved: Path | None = None) -> str:
    lines = [to_plain(reply.text)]
    if saved is not None:
        lines.append(f"→ {saved}")
    lines += [f"{n}) {to_plain(option.label)}" for n, option in enumerate(reply.options, start=1)]
    return "\n".join(lines)


class Console:
    def __init__(self, engine: Engine, user: str, stdout: TextIO, exports: Path):
        self.engine, self.stdout, self.exports = engine, stdout, exports
        self.conversation = f"console:{user}"

    def save(self, reply: Reply) -> Path | None:
        if reply.document is None:
            return None
        self.exports.mkdir(parents=True, exist_ok=True)
        path = self.exports / Path(reply.document.filename).name  # never a path from elsewhere
        path.write_bytes(reply.document.content)
        return path

    def show(self, outcome: Outcome) -> None:
        parts = [format_reply(r, self.save(r)) for r in outcome.replies]
        if outcome.notice:
            parts.append(f"({outcome.notice})")
        if parts:
            print("\n\n".join(parts), end="\n\n", file=self.stdout, flush=True)

    async def deliver(self, row: dict) -> None:
        """An outbox message for this user: a reminder, or what staff wrote."""
        payload = row["payload"]
        text = payload.get("plain") or to_plain(payload.get("text", ""))
        buttons = "".join(f"\n{n}) {label}" for n, (_, label) in enumerate(payload.get("buttons", []), 1))
        print(f"\n{text}{buttons}\n", file=self.stdout, flush=True)

    async def say(self, kind: str, text: str = "") -> None:
        self.show(await self.engine.handle(Inbound(self.conversation, kind, text)))


async def run_console(
    engine: Engine, *, user: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> None:
    exports = Path(engine.store.path).resolve().parent / "exports"
    console = Console(engine, user, stdout, exports)
    interactive = stdin.isatty()
    worker = None
    if interactive:  # pick up where the last session left off, and print what falls due
        await console.say("wake")
        outbox = OutboxWorker(
            engine.store, engine.clock, (console.conversation,), console.deliver, wake=engine.outbox_ready
        )
        worker = asyncio.create_task(outbox.run())
    try:
        while True:
            if interactive:
                print("> ", end="", file=stdout, flush=True)
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if line.strip():
                await console.say("text", line.rstrip("\r\n"))
    finally:
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
