"""Neutral text helpers: the Telegram-HTML our templates produce as plain text, and long text cut
at line breaks for platforms with a length limit."""

import html
import re
from collections.abc import Callable

_LINK = re.compile(r'<a\s+href="([^"]*)"\s*>(.*?)</a>', re.S)
_TAG = re.compile(r"</?(?:b|strong|i|em|u|ins|s|strike|del|code|pre|tg-spoiler|blockquote)\b[^>]*>")


def to_plain(text: str) -> str:
    """Drop formatting tags, keep link targets, unescape entities."""
    text = _LINK.sub(
        lambda m: m.group(2) if m.group(2) == m.group(1) else f"{m.group(2)} ({m.group(1)})", text
    )
    return html.unescape(_TAG.sub("", text))


def split_lines(
    text: str,
    limit: int,
    *,
    measure: Callable[[str], int] = len,
    hard_cut: int | None = None,
    keep_last: Callable[[str], object] = bool,
) -> list[str]:
    """`text` in chunks of at most `limit` (as `measure` counts), cut at line breaks; a line longer
    than that (our templates never make one) is cut every `hard_cut` characters."""
    hard_cut = hard_cut or limit
    chunks, current = [], ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if measure(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        while measure(line) > limit:
            chunks.append(line[:hard_cut])
            line = line[hard_cut:]
        current = line
    if keep_last(current):
        chunks.append(current)
    return chunks
