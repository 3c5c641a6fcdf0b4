"""`quotebot quote` and `quotebot rates` as support staff and scripts run them."""

import json
import subprocess
import sys

import pytest

from bot.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=60)


def test_cli_issue_example_json(capsys):
    """The issue's example prints mini 3,500円 and standard 7,500円 a month as JSON."""
    args = "quote --revenue 3億 --industry retail --channels rakuten,own_ec --date 2026-11-22 --json"
    code = main(args.split())
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["revenue_yen"] == 300_000_000
    plans = {o["plan"]: o for o in data["offers"] if o["product"] == "rakuten_group"}
    assert plans["mini"]["monthly_premium_yen"] == 3_500
    assert plans["standard"]["monthly_premium_yen"] == 7_500
    assert plans["mini"]["annual_premium_yen"] is None
    assert plans["mini"]["coverage_start"] == "2027-01-01T16:00:00+09:00"
    assert plans["mini"]["coverage_end"] == "2027-08-01T16:00:00+09:00"
    assert {"product", "reason", "contact"} <= set(data["referrals"][0])
    assert data["declined"] == []


def test_cli_json_for_a_decline_and_a_referral(capsys):
    """A public body with a Rakuten shop is declined for the 三井住友海上 scheme only (seed 004);
    above 10億 a rakuten merchant is referred."""
    main(["quote", "--revenue", "1億", "--industry", "public_body", "--channels", "rakuten", "--json"])
    declined = json.loads(capsys.readouterr().out)["declined"]
    assert declined == [{"product": "rakuten_group", "reason": "excluded_industry_public_body"}]
    main(["quote", "--revenue", "12億", "--industry", "retail", "--channels", "rakuten", "--json"])
    referrals = json.loads(capsys.readouterr().out)["referrals"]
    assert {
        "product": "rakuten_group",
        "reason": "above_ceiling",
        "contact": "0120-994-294",
        "contact_id": "rakuten_agent",
    } in referrals


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_cli_text_quote_in_both_languages(capsys, lang):
    """Without --json the quote reads as the bot would show it, in the chosen language."""
    main(
        [
            "quote",
            "--revenue",
            "300,000,000",
            "--industry",
            "care_welfare",
            "--channels",
            "physical_store",
            "--lang",
            lang,
            "--date",
            "2026-11-22",
        ]
    )
    out = capsys.readouterr().out
    assert ("年額 66,000円" if lang == "ja" else "¥66,000 a year") in out
    assert "<b>" not in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--revenue", "3億-2", "--industry", "retail", "--channels", "rakuten"], "-2"),
        (["--revenue", "3億", "--industry", "bakery", "--channels", "rakuten"], "bakery"),
        (["--revenue", "3億", "--industry", "retail", "--channels", "rakuten,fax"], "fax"),
        (["--revenue", "3億", "--industry", "retail", "--channels", ""], "--channels"),
        (
            [
                "--revenue",
                "3億",
                "--industry",
                "retail",
                "--channels",
                "rakuten",
                "--date",
                "2026-13-01",
            ],
            "2026-13-01",
        ),
        (["--industry", "retail", "--channels", "rakuten"], "--revenue"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args, fragment):
    """Bad input: exit code 2 and a single line on stderr naming what was wrong, no traceback."""
    result = run("quote", *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and fragment in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_cli_rates_lists_products_with_source_and_date():
    """`quotebot rates` names each product, its seed file and effective date."""
    result = run("rates", "--lang", "en")
    assert result.returncode == 0
    assert "rakuten_group" in result.stdout and "seeds/000_ea39abb2f9fb4edf.txt" in result.stdout
    assert "from 1 Aug 2023" in result.stdout and "undated" in result.stdout


def test_cli_chat_scripted_session():
    """The README's scripted console session prints the premiums, with no account or network."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "chat"],
            input="/quote\n3億\n小売業\n楽天市場\n完了\n",
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "QUOTEBOT_DB": os.path.join(tmp, "q.db")},
        )
    assert result.returncode == 0, result.stderr
    assert "月額 3,500円" in result.stdout and "月額 7,500円" in result.stdout
    assert "1) 製造業" in result.stdout
