"""Read yen amounts as merchants type them, and write amounts back as figures.

`parse_yen` turns free text ("３億円", "1億5千万", "約300万円くらい", "1.2 billion yen") into an
int number of yen or raises `AmountError`; `format_yen` writes an int back in one of a few styles.
Pure and stdlib-only: no I/O, and no sentences — the words a user reads live in templates.

The reader is a tokenizer (one token regex built from the vocabulary table) and a small grammar:

    input  = prefix* amount suffix*     prefix: 約 about ¥ - マイナス; suffix: 円 yen くらい です
    amount = number mult                English: "300 million", "1.2B", "5k"
           | (group big)* group?        Japanese: big is 万 億 兆 京, descending, each once
    group  = (number? small)* number?   small is 十 百 千, descending: "1千2百", "三千五"
"""

import re
import unicodedata
from fractions import Fraction
from typing import NamedTuple

MAX_YEN: int = 10**15
MAX_INPUT_CHARS: int = 100

_CODES = frozenset({"empty", "too_long", "negative", "too_large", "fraction", "unrecognized", "ambiguous"})

# NFKC can turn one character into up to 18 (U+FDFA). Bounding the normalised text too keeps every
# digit run far below int()'s 4300-digit limit without relying on today's Unicode tables.
_MAX_NORMALIZED_CHARS = 4 * MAX_INPUT_CHARS

# A later group holds at most 9,999 of its unit: "1億12,345万" is a typo, not 2億2,345万.
_GROUP_LIMIT = 10_000


class AmountError(ValueError):
    """Text that is not a usable yen amount: `code` says why, `fragment` quotes what was unread."""

    def __init__(self, code: str, fragment: str = "") -> None:
        if code not in _CODES:
            raise ValueError(f"unknown AmountError code {code!r}")
        # Both go into args so the exception pickles and compares like any other.
        super().__init__(code, fragment)
        self.code = code
        self.fragment = fragment

    def __str__(self) -> str:
        return f"{self.code}: {self.fragment!r}" if self.fragment else self.code


# Token kinds. Numbers are "num" (whole: 300, 1,000, 三〇〇) or "dec" (with a point: 1.5).
_NUMBERS = frozenset({"num", "dec"})
_AMOUNT = frozenset({"num", "dec", "small", "big", "mult"})
_PREFIXES = frozenset({"topic_pre", "topic_particle", "approx_pre", "currency", "sign"})
_SUFFIXES = frozenset({"currency", "approx_post", "polite", "stop"})

_VOCABULARY: dict[str, tuple[str, int]] = {
    **dict.fromkeys(("十", "拾"), ("small", 10)),
    "百": ("small", 100),
    "千": ("small", 1000),
    **dict.fromkeys(("万", "萬"), ("big", 10**4)),
    "億": ("big", 10**8),
    "兆": ("big", 10**12),
    # Nobody means 京, but reading it lets "1京" say "too large" rather than "unreadable".
    "京": ("big", 10**16),
    **dict.fromkeys(("k", "thousand"), ("mult", 10**3)),
    **dict.fromkeys(("m", "mn", "million"), ("mult", 10**6)),
    **dict.fromkeys(("b", "bn", "billion"), ("mult", 10**9)),
    **dict.fromkeys(("t", "tn", "trillion"), ("mult", 10**12)),
    # "\" is how ¥ shows on Japanese keyboards and in Shift_JIS text, so people type it for yen.
    **dict.fromkeys(("円", "¥", "\\", "yen", "jpy"), ("currency", 0)),
    **dict.fromkeys(
        ("約", "およそ", "大体", "だいたい", "about", "approx", "approx.", "around"),
        ("approx_pre", 0),
    ),
    **dict.fromkeys(("程度", "くらい", "ぐらい", "ほど", "前後"), ("approx_post", 0)),
    # What people put before the figure when they say what it is: "年商3億", "売上高 5,000万円".
    **dict.fromkeys(
        ("年商", "売上高", "売上", "年間売上高", "年間売上", "revenue", "sales"), ("topic_pre", 0)
    ),
    # ... and what joins the two: "売上は3億円", "年商：3億", "revenue is 300 million".
    **dict.fromkeys(("は", "が", "：", ":", "is", "of"), ("topic_particle", 0)),
    "です": ("polite", 0),
    "。": ("stop", 0),
    # ▲ and △ mark negatives in Japanese bookkeeping.
    **dict.fromkeys(("-", "−", "–", "▲", "△", "マイナス"), ("sign", 0)),
}

_KANJI_DIGITS = "〇零一二三四五六七八九壱弐参"
_KANJI_TO_ASCII = str.maketrans(_KANJI_DIGITS, "00123456789123")


def _alternation(words: list[str]) -> str:
    # Longest first, so "mn" wins over "m" and "approx." over "approx".
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


_LATIN = [word for word in _VOCABULARY if word[0].isascii() and word[0].isalpha()]
_OTHER = [word for word in _VOCABULARY if word not in _LATIN]

# Every branch is a literal or a single character-class run, so matching is linear: no
# backtracking to blow up on 100 characters of "1,1,1,...". ASCII mode keeps \d-like Unicode
# digits (٣, ३) and case-folding tricks (K, ı) out; NFKC has already folded full-width forms.
_TOKEN = re.compile(
    rf"(?P<num>[0-9][0-9,.]*)"
    rf"|(?P<kanji>[{_KANJI_DIGITS}]+)"
    rf"|(?P<latin>{_alternation(_LATIN)})(?![a-z])"
    rf"|(?P<word>{_alternation(_OTHER)})",
    re.IGNORECASE | re.ASCII,
)
# Commas, when present, must group thousands exactly; a point only before at least one digit.
_NUMBER = re.compile(r"(?:[1-9][0-9]{0,2}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?", re.ASCII)


class _Token(NamedTuple):
    kind: str
    value: Fraction
    start: int  # index into the normalised text, for quoting the user's own characters back


class _Unreadable(Exception):
    """Raised inside the reader at the normalised position where reading failed (None: the end)."""

    def __init__(self, pos: int | None) -> None:
        super().__init__(pos)
        self.pos = pos


class _Ambiguous(Exception):
    """Spoken shorthand such as "1億5" (1億5千万? 100,000,005?) that a quote must not guess."""


class _Source:
    """The user's text, its NFKC form, and the original span behind each normalised character."""

    def __init__(self, text: str) -> None:
        self.text = text
        parts: list[str] = []
        self.spans: list[tuple[int, int]] = []
        start = 0
        for end in range(1, len(text) + 1):
            # Normalise a base character with its combining marks, so "か"+"゙" still becomes "が"
            # while each output character keeps pointing at what the user typed.
            if end < len(text) and _combines(text[end]):
                continue
            piece = unicodedata.normalize("NFKC", text[start:end])
            parts.append(piece)
            self.spans.extend([(start, end)] * len(piece))
            start = end
        self.norm = "".join(parts)

    def fragment(self, pos: int | None) -> str:
        """The user's own characters from `pos` to the end of that word (all of it when None)."""
        if pos is None:
            return self.text.strip()
        end = pos
        while end < len(self.norm) and not self.norm[end].isspace():
            end += 1
        return self.text[self.spans[pos][0] : self.spans[end - 1][1]]


def _combines(char: str) -> bool:
    # Half-width ﾞ and ﾟ are not combining themselves but normalise to combining marks.
    folded = unicodedata.normalize("NFKC", char)
    return bool(folded) and unicodedata.combining(folded[0]) != 0


def parse_yen(text: str) -> int:
    """Read a non-negative whole number of yen from user text, or raise AmountError."""
    if len(text) > MAX_INPUT_CHARS:
        raise AmountError("too_long")
    source = _Source(text)
    if not source.norm.strip():
        raise AmountError("empty")
    if len(source.norm) > _MAX_NORMALIZED_CHARS:
        raise AmountError("too_long")
    try:
        negative, value = _read(_tokenize(source.norm))
    except _Unreadable as error:
        raise AmountError("unrecognized", source.fragment(error.pos)) from None
    except _Ambiguous:
        raise AmountError("ambiguous", text.strip()) from None
    if negative:
        raise AmountError("negative")
    if value > MAX_YEN:
        raise AmountError("too_large")
    if value.denominator != 1:
        raise AmountError("fraction")
    return int(value)


def _tokenize(norm: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(norm):
        if norm[pos].isspace():
            pos += 1
            continue
        match = _TOKEN.match(norm, pos)
        if match is None:
            raise _Unreadable(pos)
        tokens.append(_token(match))
        pos = match.end()
    return tokens


def _token(match: re.Match[str]) -> _Token:
    text, start = match.group(), match.start()
    if match.lastgroup == "num":
        if not _NUMBER.fullmatch(text):
            raise _Unreadable(start)
        whole, _, decimals = text.replace(",", "").partition(".")
        value = Fraction(int(whole + decimals), 10 ** len(decimals))
        return _Token("dec" if decimals else "num", value, start)
    if match.lastgroup == "kanji":
        # A run of kanji digits is positional, as in 二〇〇万 or 一二三.
        return _Token("num", Fraction(int(text.translate(_KANJI_TO_ASCII))), start)
    kind, value = _VOCABULARY[text.lower()]
    return _Token(kind, Fraction(value), start)


def _read(tokens: list[_Token]) -> tuple[bool, Fraction]:
    """Split tokens into prefixes, the amount, and suffixes; return (negative, value)."""
    i, seen = 0, set()
    while i < len(tokens) and tokens[i].kind in _PREFIXES - seen:
        seen.add(tokens[i].kind)
        i += 1
    negative = "sign" in seen
    end = i
    while end < len(tokens) and tokens[end].kind in _AMOUNT:
        end += 1
    if end == i:
        raise _Unreadable(tokens[i].start if i < len(tokens) else None)
    # "3万5円" is exact (30,005); only a bare "3万5" is spoken shorthand.
    yen_follows = any(token.kind == "currency" for token in tokens[end:])
    value = _amount(tokens[i:end], shorthand_ok=yen_follows)
    seen = set()
    for token in tokens[end:]:
        # Each decoration at most once; a sign after the amount ("3億-2") is not a suffix.
        if token.kind not in _SUFFIXES - seen:
            raise _Unreadable(token.start)
        seen.add(token.kind)
    return negative, value


def _amount(run: list[_Token], shorthand_ok: bool = False) -> Fraction:
    mult = next((k for k, token in enumerate(run) if token.kind == "mult"), None)
    if mult is not None:
        # An English multiplier takes exactly one number and nothing else: "1.2 billion".
        if mult != 1 or run[0].kind not in _NUMBERS:
            raise _Unreadable(run[mult].start)
        if len(run) > 2:
            raise _Unreadable(run[2].start)
        return run[0].value * run[1].value

    groups: list[tuple[list[_Token], _Token | None]] = []
    group: list[_Token] = []
    for token in run:
        if token.kind == "big":
            groups.append((group, token))
            group = []
        else:
            group.append(token)
    if group:
        groups.append((group, None))

    total, previous_scale = Fraction(0), None
    for index, (group, unit) in enumerate(groups):
        if not group:  # "億" or "万円" alone: a unit needs a number
            raise _Unreadable(unit.start)
        scale = unit.value if unit else 1
        if previous_scale is not None and scale >= previous_scale:  # "3万2億"
            raise _Unreadable(group[0].start)
        tail = index and unit is None and len(group) == 1 and group[0].kind == "num"
        if tail and group[0].value < 10 and not shorthand_ok:
            # "1億5" and "3万5" mean 1億5千万 and 3万5千 when spoken; written, they are 1億+5円.
            raise _Ambiguous()
        value = _group(group, leading=index == 0)
        if index and value >= _GROUP_LIMIT:
            raise _Unreadable(group[0].start)
        total += value * scale
        previous_scale = scale
    return total


def _group(group: list[_Token], leading: bool) -> Fraction:
    """Value of the digits before one 万/億/兆 (or the last ones), e.g. 1千2百34 -> 1234."""
    value, previous_unit = Fraction(0), None
    k = 0
    while k < len(group):
        token = group[k]
        # A decimal only makes sense as the very first figure: "1.5億", never "1億2.5万".
        if token.kind == "dec" and not (leading and k == 0):
            raise _Unreadable(token.start)
        if token.kind == "small":
            coefficient, unit = Fraction(1), token.value
            k += 1
        elif k + 1 < len(group) and group[k + 1].kind == "small":
            # The figure before 十/百/千 is one digit, as in speech: 3千, 二百; "12千" is a typo.
            if token.kind == "dec" or not 1 <= token.value <= 9:
                raise _Unreadable(token.start)
            coefficient, unit = token.value, group[k + 1].value
            k += 2
        else:
            if k + 1 < len(group):  # two numbers in a row: "3 4万"
                raise _Unreadable(group[k + 1].start)
            if previous_unit is not None and token.value >= previous_unit:  # "3千1234"
                raise _Unreadable(token.start)
            return value + token.value
        if previous_unit is not None and unit >= previous_unit:  # "1千2千", "百千"
            raise _Unreadable(token.start)
        value += coefficient * unit
        previous_unit = unit
    return value


def _units(amount: int) -> str:
    parts = []
    for scale, name in ((10**12, "兆"), (10**8, "億"), (10**4, "万")):
        count, amount = divmod(amount, scale)
        if count:
            parts.append(f"{count:,}{name}")
    if amount or not parts:
        parts.append(f"{amount:,}")
    return "".join(parts) + "円"


_FORMATTERS = {
    "digits": lambda amount: f"{amount:,}円",
    "units": _units,
    "yen_sign": lambda amount: f"¥{amount:,}",
    "plain": str,
    "english": lambda amount: f"{amount:,} yen",
}
FORMAT_STYLES: tuple[str, ...] = tuple(_FORMATTERS)


def format_yen(amount: int, style: str = "digits") -> str:
    """Write a non-negative int of yen as a figure in one of FORMAT_STYLES."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"amount must be an int of yen, not {type(amount).__name__}")
    if amount < 0:
        raise ValueError(f"amount must not be negative: {amount}")
    if style not in _FORMATTERS:
        raise ValueError(f"unknown style {style!r}; expected one of {FORMAT_STYLES}")
    return _FORMATTERS[style](amount)
