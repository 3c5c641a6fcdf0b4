"""Tests for rates.amounts: reading yen amounts as people type them, and writing them back."""

import pickle
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rates.amounts import (
    FORMAT_STYLES,
    MAX_INPUT_CHARS,
    MAX_YEN,
    AmountError,
    format_yen,
    parse_yen,
)

# ---------------------------------------------------------------------------------------------
# Accepted input. Every expected figure is written by hand.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300000000", 300_000_000),
        ("300,000,000", 300_000_000),
        ("３００，０００，０００", 300_000_000),
        ("１２３４５", 12_345),
        ("1,000", 1_000),
        ("0300", 300),
        ("300,000,000.00", 300_000_000),
        ("1.0", 1),
    ],
)
def test_amounts_reads_digits_and_comma_groups(text, expected):
    """ASCII or full-width digits, optionally grouped by thousands, read as whole yen."""
    assert parse_yen(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300円", 300),
        ("¥300", 300),
        ("￥３００", 300),
        ("\\300", 300),
        ("JPY 300", 300),
        ("300 jpy", 300),
        ("300yen", 300),
        ("300 YEN", 300),
        ("¥300万円", 3_000_000),
        ("300 million 円", 300_000_000),
    ],
)
def test_amounts_reads_currency_marks(text, expected):
    """円, ¥, ￥, a yen backslash, JPY and yen are accepted around the number."""
    assert parse_yen(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3億", 300_000_000),
        ("３億円", 300_000_000),
        ("300万", 3_000_000),
        ("1億2,345万円", 123_450_000),
        ("1億2,345万6,789円", 123_456_789),
        ("1兆1円", 1_000_000_000_001),
        ("1,000兆円", MAX_YEN),
        ("3 億 2 万", 300_020_000),
        ("３億　２万", 300_020_000),
    ],
)
def test_amounts_reads_man_oku_cho_units(text, expected):
    """万, 億 and 兆 multiply the figures before them and add up in descending order."""
    assert parse_yen(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3千万", 30_000_000),
        ("5千万円", 50_000_000),
        ("1億5千万", 150_000_000),
        ("1千2百万", 12_000_000),
        ("千円", 1_000),
        ("3千", 3_000),
        ("2千5百", 2_500),
    ],
)
def test_amounts_reads_sen_hyaku_ju_with_digits(text, expected):
    """千, 百 and 十 after a digit multiply it inside a 万/億 group."""
    assert parse_yen(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("三億", 300_000_000),
        ("五千万円", 50_000_000),
        ("一億二千三百四十五万六千七百八十九円", 123_456_789),
        ("十万", 100_000),
        ("百万円", 1_000_000),
        ("二十一", 21),
        ("千一", 1_001),
        ("二〇〇万", 2_000_000),
        ("〇", 0),
        ("零円", 0),
        ("参億", 300_000_000),
        ("壱千万", 10_000_000),
        ("弐拾万", 200_000),
    ],
)
def test_amounts_reads_kanji_numerals(text, expected):
    """Kanji numerals, positional 〇 runs and the formal 壱弐参拾 read like digits."""
    assert parse_yen(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5億", 150_000_000),
        ("０．５億", 50_000_000),
        ("2.5万", 25_000),
        ("1.2345678億", 123_456_780),
    ],
)
def test_amounts_reads_decimals_before_a_unit(text, expected):
    """A decimal before a unit is fine when the result is a whole number of yen."""
    assert parse_yen(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300 million", 300_000_000),
        ("1.2 billion", 1_200_000_000),
        ("300M", 300_000_000),
        ("300m", 300_000_000),
        ("1.2B", 1_200_000_000),
        ("1.2bn", 1_200_000_000),
        ("300 mn", 300_000_000),
        ("5k", 5_000),
        ("5 thousand", 5_000),
        ("3 trillion", 3_000_000_000_000),
        ("¥1.2B", 1_200_000_000),
        ("300 million yen", 300_000_000),
        ("JPY 5K", 5_000),
    ],
)
def test_amounts_reads_english_multipliers(text, expected):
    """English multipliers (k, M, B, million, ...) scale one number, in any letter case."""
    assert parse_yen(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "約3億",
        "およそ3億円",
        "大体3億",
        "about 300 million",
        "approx. 300 million yen",
        "around ¥300M",
        "3億円程度",
        "3億くらい",
        "3億円ぐらい",
        "3億円ほど",
        "3億円前後",
        "3億円です",
        "3億円。",
        "約3億円くらいです。",
    ],
)
def test_amounts_ignores_approximation_and_politeness(text):
    """Approximation words, a trailing です and a full stop do not change the amount."""
    assert parse_yen(text) == 300_000_000


@pytest.mark.parametrize("text", ["0", "０円", "¥0", "0 yen", "〇円"])
def test_amounts_accepts_zero(text):
    """Zero is a valid amount."""
    assert parse_yen(text) == 0


# ---------------------------------------------------------------------------------------------
# Rejected input: each error code, and the fragment that names what was not understood.


@pytest.mark.parametrize("text", ["", " ", "　", "\n\t", " 　 "])
def test_amounts_rejects_blank_input_as_empty(text):
    """Empty or whitespace-only text is "empty"."""
    with pytest.raises(AmountError) as caught:
        parse_yen(text)
    assert (caught.value.code, caught.value.fragment) == ("empty", "")


@pytest.mark.parametrize(
    "text",
    [
        "1" * (MAX_INPUT_CHARS + 1),
        "9" * 5000,
        "3億" + " " * MAX_INPUT_CHARS,
        "1," * 10_000,
        "\ufdfa" * 30,  # one character that NFKC expands to eighteen
    ],
)
def test_amounts_rejects_long_input_as_too_long(text):
    """Input over MAX_INPUT_CHARS, or that NFKC blows up far past it, is "too_long"."""
    with pytest.raises(AmountError) as caught:
        parse_yen(text)
    assert caught.value.code == "too_long"


@pytest.mark.parametrize("text", ["-5", "−3億", "マイナス3億", "－５", "¥-300", "-¥300", "▲300万", "-0"])
def test_amounts_rejects_a_minus_sign_as_negative(text):
    """A leading minus sign, マイナス or the bookkeeping ▲ is "negative"."""
    with pytest.raises(AmountError) as caught:
        parse_yen(text)
    assert caught.value.code == "negative"


@pytest.mark.parametrize(
    "text",
    [
        "9999兆",
        "10000000000000000",
        "1京",
        "1000兆1円",
        "1,000,000,000,000,001",
        "9" * MAX_INPUT_CHARS,
        "1000001 billion",
    ],
)
def test_amounts_rejects_absurd_amounts_as_too_large(text):
    """Anything above MAX_YEN (1,000兆円) is "too_large"."""
    with pytest.raises(AmountError) as caught:
        parse_yen(text)
    assert caught.value.code == "too_large"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("年商3億", 300_000_000),
        ("売上は3億円", 300_000_000),
        ("売上高は3億円です", 300_000_000),
        ("年商：5,000万円", 50_000_000),
        ("revenue is 300 million", 300_000_000),
        ("売上高 5,000万円", 50_000_000),
        ("年間売上 約1.2億円", 120_000_000),
        ("revenue 300 million", 300_000_000),
    ],
)
def test_amounts_reads_what_the_figure_is_named(text, expected):
    """A leading 年商 / 売上高 / revenue saying what the figure is does not get in the way."""
    assert parse_yen(text) == expected


@pytest.mark.parametrize("text", ["1億5", "3万5", "１億５", "2億3"])
def test_amounts_rejects_spoken_shorthand_as_ambiguous(text):
    """ "1億5" could mean 1億5千万 or 1億と5円; a quote asks rather than guesses."""
    with pytest.raises(AmountError) as caught:
        parse_yen(text)
    assert (caught.value.code, caught.value.fragment) == ("ambiguous", text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3万5円", 30_005), ("1億5千万", 150_000_000), ("1万50", 10_050), ("1.5億", 150_000_000)],
)
def test_amounts_reads_explicit_forms_near_shorthand(text, expected):
    """With 円 after it, or two or more digits, the tail is read literally."""
    assert parse_yen(text) == expected


@pytest.mark.parametrize("text", ["1.2345678901億", "100.5円", "0.5", "1.0001k"])
def test_amounts_rejects_fractions_of_a_yen(text):
    """An amount that is not a whole number of yen is "fraction"."""
    with pytest.raises(AmountError) as caught:
        parse_yen(text)
    assert caught.value.code == "fraction"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("abc", "abc"),
        ("１２３abc", "abc"),
        ("１２３ａｂｃ", "ａｂｃ"),
        ("3億円です！？", "！？"),
        ("3億円😀", "😀"),
        ("٣٠٠", "٣٠٠"),
        ("три миллиона", "три"),
        ("three hundred", "three"),
        ("300 millions", "millions"),
        ("NaN", "NaN"),
        ("inf", "inf"),
        ("Infinity", "Infinity"),
        ("1e999", "e999"),
        ("0x10", "x10"),
        ("ー300", "ー300"),
        ("3億、2万", "、2万"),
    ],
)
def test_amounts_names_unknown_characters(text, fragment):
    """Characters that are no part of an amount are quoted back, as typed, up to the next space."""
    with pytest.raises(AmountError) as caught:
        parse_yen(text)
    assert (caught.value.code, caught.value.fragment) == ("unrecognized", fragment)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1,0000", "1,0000"),
        ("１，０００，００", "１，０００，００"),
        ("1,2,3", "1,2,3"),
        ("1..5億", "1..5億"),
        ("300.", "300."),
    ],
)
def test_amounts_names_badly_grouped_numbers(text, fragment):
    """A number whose commas or points are misplaced is quoted back whole."""
    with pytest.raises(AmountError) as caught:
        parse_yen(text)
    assert (caught.value.code, caught.value.fragment) == ("unrecognized", fragment)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("億", "億"),
        ("万円", "万円"),
        ("円", "円"),
        ("約", "約"),
        ("3万2億", "2億"),
        ("1万1万", "1万"),
        ("1億12,345万", "12,345万"),
        ("1億2.5万", "2.5万"),
        ("12千", "12千"),
        ("1千2千", "2千"),
        ("3千1234", "1234"),
        ("3 4万", "4万"),
        ("3億-2", "-2"),
        ("3億 million", "million"),
        ("5 k k", "k"),
        ("円 円 3億", "円"),
    ],
)
def test_amounts_names_where_the_grammar_breaks(text, fragment):
    """Known words in an impossible order are quoted back from the first one out of place."""
    with pytest.raises(AmountError) as caught:
        parse_yen(text)
    assert (caught.value.code, caught.value.fragment) == ("unrecognized", fragment)


@pytest.mark.parametrize(
    "text",
    [
        "1," * 50,
        "1." * 50,
        "9" * 99 + "億",
        "一" * MAX_INPUT_CHARS,
        "億" * MAX_INPUT_CHARS,
        "1千" * 50,
        "\ud800",
        "\x00",
    ],
)
def test_amounts_rejects_pathological_input_quickly(text):
    """Adversarial input ends in AmountError well within a blink, never another exception."""
    started = time.perf_counter()
    with pytest.raises(AmountError):
        parse_yen(text)
    assert time.perf_counter() - started < 0.5


def test_amounts_error_is_a_value_error_that_pickles():
    """AmountError is a ValueError whose code and fragment survive pickling."""
    error = pickle.loads(pickle.dumps(AmountError("unrecognized", "abc")))
    assert isinstance(error, ValueError)
    assert (error.code, error.fragment) == ("unrecognized", "abc")


def test_amounts_error_refuses_unknown_codes():
    """Constructing AmountError with a code outside the documented set is a programming error."""
    with pytest.raises(ValueError, match="unknown AmountError code"):
        AmountError("bad")


# ---------------------------------------------------------------------------------------------
# Formatting.


@pytest.mark.parametrize(
    ("amount", "style", "expected"),
    [
        (300_000_000, "digits", "300,000,000円"),
        (300_000_000, "units", "3億円"),
        (123_456_789, "units", "1億2,345万6,789円"),
        (50_000_000, "units", "5,000万円"),
        (0, "units", "0円"),
        (10**12, "units", "1兆円"),
        (12_345, "units", "1万2,345円"),
        (100_000_001, "units", "1億1円"),
        (MAX_YEN, "units", "1,000兆円"),
        (300_000_000, "yen_sign", "¥300,000,000"),
        (300_000_000, "plain", "300000000"),
        (300_000_000, "english", "300,000,000 yen"),
    ],
)
def test_amounts_formats_each_style(amount, style, expected):
    """Each style writes the figure exactly as specified."""
    assert format_yen(amount, style) == expected


def test_amounts_formats_digits_by_default():
    """Without a style, format_yen uses comma-grouped digits and 円."""
    assert format_yen(1_000) == "1,000円"


@pytest.mark.parametrize(
    ("amount", "style", "error"),
    [(-1, "digits", ValueError), (1, "roman", ValueError), (1.5, "digits", TypeError)],
)
def test_amounts_format_refuses_bad_arguments(amount, style, error):
    """Negative amounts, non-int amounts and unknown styles are programming errors."""
    with pytest.raises(error):
        format_yen(amount, style)


# ---------------------------------------------------------------------------------------------
# Properties.

amounts = st.integers(min_value=0, max_value=MAX_YEN)
styles = st.sampled_from(FORMAT_STYLES)


def full_width(text: str) -> str:
    """The full-width form of printable ASCII, ¥ and space, as a Japanese IME types it."""
    table = {code: code + 0xFEE0 for code in range(0x21, 0x7F)}
    table.update({ord(" "): "　", ord("¥"): "￥"})
    return text.translate(table)


@given(amounts, styles)
def test_amounts_parse_reads_back_every_format(amount, style):
    """Every style format_yen writes parses back to the same amount."""
    assert parse_yen(format_yen(amount, style)) == amount


@given(amounts, styles)
def test_amounts_parse_reads_full_width_formats(amount, style):
    """The full-width form of any format parses back to the same amount."""
    assert parse_yen(full_width(format_yen(amount, style))) == amount


def check_parse_outcome(text: str) -> None:
    try:
        result = parse_yen(text)
    except AmountError:
        return
    assert type(result) is int
    assert 0 <= result <= MAX_YEN


@given(st.text())
def test_amounts_parse_never_raises_other_errors(text):
    """For any text, parse_yen returns 0..MAX_YEN or raises AmountError, nothing else."""
    check_parse_outcome(text)


VOCABULARY_PIECES = [
    *"0123456789",
    *",.，．",
    *"万億兆京千百十拾一二三五九〇零壱",
    *"円¥￥\\",
    "k",
    "M",
    "bn",
    "million",
    "yen",
    "JPY",
    "約",
    "about",
    "approx.",
    "くらい",
    "前後",
    "です",
    "。",
    "-",
    "マイナス",
    " ",
    "　",
    "1,000",
    "0.5",
    "x",
]


@given(st.lists(st.sampled_from(VOCABULARY_PIECES), max_size=15).map("".join))
def test_amounts_parse_survives_vocabulary_soup(text):
    """Random arrangements of known words return 0..MAX_YEN or raise AmountError, nothing else."""
    check_parse_outcome(text)
