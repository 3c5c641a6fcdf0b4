"""The console channel: the same engine and dialogs in a terminal, no account, no network.

Buttons are listed one per line, numbered from 1; the user types a number, a label or free
text. Piped input (not a terminal) is read line by line until EOF, printing every bot
message, so scripted sessions work.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.engine import Engine, Inbound, Outcome, Reply
from bot.markup import to_plain


def format_reply(reply: Reply) -> str:
    lines = [to_plain(reply.text)]
    lines += [f"{n}) {to_plain(option.label)}" for n, option in enumerate(reply.options, start=1)]
    return "\n".join(lines)


def format_outcome(outcome: Outcome) -> str:
    parts = [format_reply(r) for r in outcome.replies]
    if outcome.notice:
        parts.append(f"({outcome.notice})")
    return "\n\n".join(parts)


async def run_console(
    engine: Engine, *, user: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> None:
    conversation = f"console:{user}"
    interactive = stdin.isatty()

    def show(outcome: Outcome) -> None:
        text = format_outcome(outcome)
        if text:
            print(text, end="\n\n", file=stdout, flush=True)

    if interactive:  # pick up where the last session left off
        show(await engine.handle(Inbound(conversation, "wake")))
    while True:
        if interactive:
            print("> ", end="", file=stdout, flush=True)
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        show(await engine.handle(Inbound(conversation, "text", text)))
