"""The trigger words of dialogs/words.toml (incident, staff), loaded once at import."""

import tomllib
from pathlib import Path

with (Path(__file__).resolve().parent / "words.toml").open("rb") as _file:
    TRIGGER_WORDS: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in tomllib.load(_file).items()}
