"""The console channel: the same engine and dialogs in a terminal, no account, no network.

Each line typed is an event accepted into the inbox like any platform's; what the bot says comes
back through the outbox and this channel's sender prints it. Buttons are listed one per line,
numbered from 1; the user types a number, a label or free text. Piped input (not a terminal) is
read line by line until EOF, printing every bot message, so scripted sessions work. Files (an
incident record) are saved in the app's exports folder and their path printed. In a terminal,
messages that fall due later (reminders, a staff member's answer) are printed when they do.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot.engine import Engine
from bot.markup import to_plain
from bot.messages import Forward, Inbound, Key, Notice, Reply
from bot.outbox import OutboxRow


def format_reply(reply: Reply, saved: Path | None = None) -> str:
    lines = [to_plain(reply.text)]
    if saved is not None:
        lines.append(f"→ {saved}")
    lines += [f"{n}) {to_plain(option.label)}" for n, option in enumerate(reply.buttons, start=1)]
    return "\n".join(lines)


class ConsoleSender:
    """Prints the outbox rows of console conversations (there is one terminal: every user's)."""

    def __init__(self, stdout: TextIO, exports: Path):
        self.stdout, self.exports = stdout, exports

    def save(self, reply: Reply) -> Path | None:
        if reply.document is None:
            return None
        self.exports.mkdir(parents=True, exist_ok=True)
        path = self.exports / Path(reply.document.filename).name  # never a path from elsewhere
        path.write_bytes(reply.document.content)
        return path

    def render(self, body) -> str | None:
        if isinstance(body, Notice):
            return f"({body.text})" if body.text else None
        if isinstance(body, Forward):
            return f"[{body.channel} message {body.ref}]"
        return format_reply(body, self.save(body))

    async def deliver(self, rows: Sequence[OutboxRow]) -> None:
        for row in rows:
            text = self.render(row.body)
            if text:
                print(text, end="\n\n", file=self.stdout, flush=True)
            await row.sent()


async def run_console(
    engine: Engine,
    *,
    user: str,
    exports: Path,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> None:
    """Read lines until EOF; each one's turn is over (and printed) before the next is read."""
    engine.outbox.register("console", ConsoleSender(stdout, exports))
    key = Key("console", user)
    interactive = stdin.isatty()

    async def say(kind: str, text: str = "") -> None:
        await engine.accept([Inbound(key, kind, text)])
        await engine.settle([key])

    if interactive:  # pick up where the last session left off
        await say("wake")
    while True:
        if interactive:
            print("> ", end="", file=stdout, flush=True)
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        if line.strip():
            await say("text", line.rstrip("\r\n"))
