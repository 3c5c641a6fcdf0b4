"""Turn the Telegram-HTML our templates produce into plain text for the console and scripts."""

import html
import re

_LINK = re.compile(r'<a\s+href="([^"]*)"\s*>(.*?)</a>', re.S)
_TAG = re.compile(r"</?(?:b|strong|i|em|u|ins|s|strike|del|code|pre|tg-spoiler|blockquote)\b[^>]*>")


def to_plain(text: str) -> str:
    """Drop formatting tags, keep link targets, unescape entities."""
    text = _LINK.sub(
        lambda m: m.group(2) if m.group(2) == m.group(1) else f"{m.group(2)} ({m.group(1)})", text
    )
    return html.unescape(_TAG.sub("", text))
