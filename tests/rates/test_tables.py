"""The loader refuses malformed rate tables, naming the file, instead of quoting from them."""

import shutil
from pathlib import Path

import pytest

from rates.tables import TABLES_DIR, RateTableError, load_rates


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    copy = tmp_path / "tables"
    shutil.copytree(TABLES_DIR, copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_tables_published_ones_load():
    """The shipped tables load, each naming its seed file."""
    book = load_rates()
    assert [t.product for t in book.products] == ["rakuten_group", "care_facility", "sme_cyber"]
    assert all(t.source.startswith("seeds/0") for t in book.products)


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("rakuten_group.toml", "from_yen = 30_000_001", "from_yen = 30_000_002", "gap"),
        ("rakuten_group.toml", "from_yen = 30_000_001", "from_yen = 30_000_000", "overlap"),
        ("care_facility.toml", "up_to_yen = 100_000_000", "up_to_yen = 40_000_000", "ascending"),
        (
            "rakuten_group.toml",
            "premium_yen = { mini = 2_000, standard = 4_000 }",
            "premium_yen = { mini = 2_000 }",
            "premiums for",
        ),
        ("rakuten_group.toml", "mini = 1_000,", "mini = -1_000,", "positive"),
        (
            "rakuten_group.toml",
            "up_to_yen = 1_000_000_000\npremium",
            "up_to_yen = 900_000_000\npremium",
            "ceiling",
        ),
        ("rakuten_group.toml", "deductible_yen = 0", "deductable_yen = 0", "deductible_yen"),
        ("care_facility.toml", 'currency = "JPY"', 'currency = "USD"', "JPY"),
        ("sme_cyber.toml", "retail = 8_140", "retial = 8_140", "unknown industry"),
        ("declines.toml", '"public_body"', '"public"', "unknown industries"),
        ("rakuten_group.toml", 'contact = "rakuten_agent"', 'contact = "nobody"', "contacts.toml"),
        ("rakuten_group.toml", 'product = "rakuten_group"', 'product = "rakuten"', "expected"),
    ],
)
def test_tables_malformed_table_is_refused(tables, file, old, new, message):
    """Each kind of mistake stops loading with the file and the problem named."""
    edit(tables / file, old, new)
    with pytest.raises(RateTableError, match=message) as caught:
        load_rates(tables)
    assert str(caught.value).startswith(file)


def test_tables_broken_toml_is_refused(tables):
    """A syntax error is reported with the file name, not as a bare parser traceback."""
    (tables / "care_facility.toml").write_text("product = \n", encoding="utf-8")
    with pytest.raises(RateTableError, match=r"care_facility\.toml"):
        load_rates(tables)


def test_tables_missing_file_is_refused(tables):
    """A missing table file is named."""
    (tables / "sme_cyber.toml").unlink()
    with pytest.raises(RateTableError, match=r"sme_cyber\.toml: file not found"):
        load_rates(tables)
