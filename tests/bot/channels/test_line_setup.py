"""`quotebot line-setup` against the LINE stub, and LINE settings stopping `quotebot serve`."""

from __future__ import annotations

import subprocess
import sys

from bot.channels.line_setup import IMAGE, set_up
from tests.bot.test_web import _env
from tests.support.line_stub import LineApiStub


def env_for(stub: LineApiStub) -> dict[str, str]:
    return {
        "LINE_CHANNEL_SECRET": stub.channel_secret,
        "LINE_CHANNEL_ACCESS_TOKEN": stub.access_token,
        "LINE_API_BASE_URL": stub.base_url,
    }


async def test_line_setup_sets_the_default_rich_menu_with_the_shipped_image():
    """Four command areas (postback cmd:<name> with displayText), the image, the default; a second
    run replaces the first menu instead of piling up."""
    with LineApiStub() as stub:
        first = await set_up(env_for(stub))
        menu = stub.rich_menu(first)
        assert [a["action"]["data"] for a in menu["menu"]["areas"]] == [
            "cmd:quote",
            "cmd:incident",
            "cmd:staff",
            "cmd:help",
        ]
        assert all(a["action"]["displayText"] for a in menu["menu"]["areas"])
        assert menu["image"][0] == IMAGE.read_bytes() and menu["image"][1] == "image/png"
        assert stub.default_rich_menu == first
        second = await set_up(env_for(stub))
        assert stub.default_rich_menu == second != first
        assert [c.status for c in stub.calls("/v2/bot/richmenu/" + first) if c.method == "DELETE"] == [200]


def test_line_setup_without_settings_is_one_line_and_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "bot", "line-setup"], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "LINE_CHANNEL_SECRET" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_line_serve_with_a_secret_but_no_token_is_one_line_and_exit_2(tmp_path):
    """Inconsistent LINE settings stop `quotebot serve` before it listens; the secret is not shown."""
    env = _env(LINE_CHANNEL_SECRET="very-secret-value", QUOTEBOT_DB=str(tmp_path / "q.db"))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "LINE_CHANNEL_ACCESS_TOKEN" in result.stderr
    assert "very-secret-value" not in result.stderr and result.stderr.strip().count("\n") == 0
