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
import re
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot.engine import Engine
from bot.markup import to_plain
from bot.messages import Forward, Inbound, Key, Notice, Reply
from bot.outbox import OutboxRow

LEAVE = ("/exit", "/quit", "exit", "quit", "終了")  # what ends a console session (Ctrl-C or Ctrl-D too)
_TICK = re.compile(r"^[#＃]\s*([0-9０-９]+)$")


def format_reply(reply: Reply, saved: Path | None = None) -> str:
    """The text, then the answers numbered 1), 2)... and the card's own buttons (checklist
    ticks) as #1, #2... so a number always means the question's answer."""
    lines = [to_plain(reply.text)]
    if saved is not None:
        lines.append(f"→ {saved}")
    lines += [f"{n}) {to_plain(option.label)}" for n, option in enumerate(reply.choices, start=1)]
    lines += [f"#{n} {to_plain(option.label)}" for n, option in enumerate(reply.actions, start=1)]
    return "\n".join(lines)


class ConsoleSender:
    """Prints the outbox rows of console conversations (there is one terminal: every user's)."""

    def __init__(self, stdout: TextIO, exports: Path):
        self.stdout, self.exports = stdout, exports
        self.ticks: list[str] = []  # the tokens of the last card's #N buttons (a checklist)

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
        if body.actions:
            self.ticks = [option.token for option in body.actions]
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
    sender = ConsoleSender(stdout, exports)
    engine.outbox.register("console", sender)
    key = Key("console", user)
    interactive = stdin.isatty()

    async def say(kind: str, text: str = "") -> None:
        await engine.accept([Inbound(key, kind, text)])
        await engine.settle([key])

    if interactive:  # pick up where the last session left off, and say how to leave
        # Both languages: the conversation's own is not known before its first turn.
        hint = "\n".join(engine.texts.render(lang, "console/how_to_leave") for lang in ("ja", "en"))
        print(hint, file=stdout, flush=True)
        await say("wake")
    while True:
        if interactive:
            print("> ", end="", file=stdout, flush=True)
        line = await _readline(stdin)
        if not line or line.strip().casefold() in LEAVE:
            break
        tick = _TICK.match(unicodedata.normalize("NFKC", line.strip()))
        if tick and 1 <= int(tick.group(1)) <= len(sender.ticks):
            await say("tap", sender.ticks[int(tick.group(1)) - 1])
        elif line.strip():
            await say("text", line.rstrip("\r\n"))


async def _readline(stdin: TextIO) -> str:
    """One line. From a terminal the event loop waits for it, so Ctrl-C leaves at once (a
    thread blocked in readline() would hold the exit until Enter)."""
    try:
        fileno = stdin.fileno()
    except (AttributeError, OSError, ValueError):  # a StringIO in tests
        return await asyncio.to_thread(stdin.readline)
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(fileno, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(fileno)
    return stdin.readline()
