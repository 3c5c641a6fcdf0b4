"""The boundaries DESIGN.md draws: which module may import what, and where user words live."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "dialogs", "rates")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


SOURCES = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_house_rules_only_the_telegram_channel_imports_telegram(path):
    """`telegram` is imported by the Telegram adapter (bot/channels/telegram*.py) and nothing else."""
    if not path.relative_to(ROOT).as_posix().startswith("bot/channels/telegram"):
        assert "telegram" not in imports(path)


STORE_BACKENDS = {"bot/store/sqlite.py": "aiosqlite", "bot/store/postgres.py": "asyncpg"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_house_rules_only_the_store_backends_import_database_drivers(path):
    """`aiosqlite` is imported by bot/store/sqlite.py only, `asyncpg` by bot/store/postgres.py only."""
    own = STORE_BACKENDS.get(path.relative_to(ROOT).as_posix())
    for driver in set(STORE_BACKENDS.values()) - {own}:
        assert driver not in imports(path)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_house_rules_only_the_line_channel_imports_linebot(path):
    """`linebot` is imported by the LINE adapter (bot/channels/line*.py) and nothing else."""
    if not path.relative_to(ROOT).as_posix().startswith("bot/channels/line"):
        assert "linebot" not in imports(path)


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "dialogs").rglob("*.py")) + sorted((ROOT / "rates").rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_house_rules_the_core_does_no_io(path):
    """Dialogs and rates stay pure: no store, no channels, no network or database libraries."""
    forbidden = {"bot", "aiosqlite", "sqlite3", "telegram", "linebot", "httpx", "aiohttp", "asyncio"}
    forbidden |= {"socket"}
    assert not (imports(path) & forbidden), imports(path) & forbidden
