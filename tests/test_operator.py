"""What an operator meets at start-up and on the command line (issue 10): one clear line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.cli import main
from bot.settings import ConfigError, Settings
from tests.support.botapi_stub import BotApiStub

SECRET = "123456:THIS-IS-THE-SECRET-TOKEN"


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TELEGRAM_STAFF_CHAT_ID": "", **env},
    )


def assert_one_line_without_the_token(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and SECRET not in result.stderr + result.stdout


def test_a_wrong_token_is_one_line_and_exit_2(tmp_path):
    with BotApiStub("999:the-right-one") as stub:
        result = run(
            "telegram",
            TELEGRAM_BOT_TOKEN=SECRET,
            TELEGRAM_API_BASE_URL=stub.base_url,
            QUOTEBOT_DB=str(tmp_path / "q.db"),
        )
    assert_one_line_without_the_token(result, "wrong or revoked")


def test_no_network_at_start_is_one_line_and_exit_2(tmp_path):
    result = run(
        "telegram",
        TELEGRAM_BOT_TOKEN=SECRET,
        TELEGRAM_API_BASE_URL="http://127.0.0.1:9/bot",  # nothing listens on the discard port
        QUOTEBOT_DB=str(tmp_path / "q.db"),
    )
    assert_one_line_without_the_token(result, "cannot reach Telegram at http://127.0.0.1:9")


def test_purge_of_a_missing_database_is_an_error_not_a_new_file(tmp_path):
    missing = tmp_path / "nope" / "q.db"
    result = run("purge", "--db", str(missing))
    assert result.returncode == 2 and f"no database at {missing}" in result.stderr
    assert not missing.exists() and not missing.parent.exists()


@pytest.mark.parametrize("chat_id", ["42", "0"])
def test_a_staff_chat_id_that_cannot_be_a_group_is_refused(chat_id):
    with pytest.raises(ConfigError, match="is not a group"):
        Settings.from_env({"TELEGRAM_STAFF_CHAT_ID": chat_id})
    assert Settings.from_env({"TELEGRAM_STAFF_CHAT_ID": "-1001234567890"}).staff_chat_id == -1001234567890


def test_codes_on_the_command_line_are_case_insensitive(capsys):
    code = main(["quote", "--revenue", "3億", "--industry", "RETAIL", "--channels", "Rakuten,OWN_EC"])
    assert code == 0 and "月額 3,500円" in capsys.readouterr().out


def test_a_date_before_the_tables_take_effect_warns(capsys):
    args = ["quote", "--revenue", "3億", "--industry", "retail", "--channels", "rakuten", "--date"]
    assert main([*args, "2023-01-10"]) == 0
    captured = capsys.readouterr()
    assert "月額 3,500円" in captured.out
    assert "2023年8月1日以降" in captured.err and "2023年1月10日" in captured.err
    assert main([*args, "2026-11-22"]) == 0
    assert capsys.readouterr().err == ""


# -- the console ---------------------------------------------------------------------------------


def chat(script: str, tmp_path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QUOTEBOT_DB": str(tmp_path / "q.db"), "TELEGRAM_STAFF_CHAT_ID": ""},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_console_ticks_a_checklist_item_by_number(tmp_path):
    """Checklist buttons read #1, #2...; "#1" ticks the first; a number still answers the menu."""
    report = "/incident\n3\n3\n1\n完了\n1\n2\n2\n1\n"  # card leak, just now, names, few people...
    out = chat(report + "#1\n", tmp_path)
    assert "#1 決済代行会社へ連絡" in out and "#1 ✅ 決済代行会社へ連絡" in out


@pytest.mark.parametrize("word", ["/exit", "quit", "終了", "QUIT"])
def test_console_leaves_on_exit_words(tmp_path, word):
    out = chat(f"/start\n{word}\n/quote\n", tmp_path)
    assert "1/3 年間売上高" not in out  # nothing after the exit word was read
