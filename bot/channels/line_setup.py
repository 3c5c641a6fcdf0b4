"""`quotebot line-setup`: the default rich menu (quote · incident 24h · staff · help) for every user.

Each area is a postback "cmd:<command>" with a displayText, so a tap arrives as that command
(not as fake typed text) and the chat shows what was tapped. The image ships with the project
(bot/channels/line_richmenu.png, 2500×843). Running it again replaces the menu it made before
(rich menus named RICH_MENU_NAME are deleted once the new one is the default).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from linebot.v3.messaging import ApiException, AsyncMessagingApi, AsyncMessagingApiBlob, RichMenuRequest

from bot.channels.line import COMMAND_PREFIX, api_client, line_settings
from bot.settings import ConfigError
from bot.texts import Texts

log = logging.getLogger(__name__)

IMAGE = Path(__file__).with_name("line_richmenu.png")
RICH_MENU_NAME = "quotebot default"
WIDTH, HEIGHT = 2500, 843
AREAS = ("quote", "incident", "staff", "help")  # left to right, as drawn on the image


def rich_menu(texts: Texts, locale: str = "ja") -> dict:
    """The menu as the Messaging API takes it: four equal areas, each a command postback."""
    width = WIDTH // len(AREAS)
    areas = []
    for n, command in enumerate(AREAS):
        label = texts.label(locale, "line_menu", command)
        areas.append(
            {
                "bounds": {
                    "x": n * width,
                    "y": 0,
                    "width": width if n < len(AREAS) - 1 else WIDTH - n * width,
                    "height": HEIGHT,
                },
                "action": {
                    "type": "postback",
                    "label": label,
                    "data": COMMAND_PREFIX + command,
                    "displayText": label,
                },
            }
        )
    return {
        "size": {"width": WIDTH, "height": HEIGHT},
        "selected": True,
        "name": RICH_MENU_NAME,
        "chatBarText": texts.label(locale, "line_menu", "chat_bar"),
        "areas": areas,
    }


async def set_up(env: Mapping[str, str], texts: Texts | None = None) -> str:
    """Create the menu, upload its image, make it the default, remove our older ones; its id."""
    settings = line_settings(env)
    if settings is None:
        raise ConfigError("quotebot line-setup: set LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN first")
    texts = texts or Texts()
    client = api_client(settings)
    try:
        api, blob = AsyncMessagingApi(client), AsyncMessagingApiBlob(client)
        try:
            old = [
                m.rich_menu_id for m in (await api.get_rich_menu_list()).richmenus if m.name == RICH_MENU_NAME
            ]
            created = await api.create_rich_menu(RichMenuRequest.from_dict(rich_menu(texts)))
            menu_id = created.rich_menu_id
            await blob.set_rich_menu_image(
                menu_id, IMAGE.read_bytes(), _headers={"Content-Type": "image/png"}
            )
            await api.set_default_rich_menu(menu_id)
            for stale in old:
                await api.delete_rich_menu(stale)
        except ApiException as e:
            raise ConfigError(f"quotebot line-setup: LINE answered {e.status} {e.reason}") from None
        except OSError as e:
            raise ConfigError(
                f"quotebot line-setup: cannot reach the LINE API ({e.__class__.__name__})"
            ) from None
        return menu_id
    finally:
        await client.close()
