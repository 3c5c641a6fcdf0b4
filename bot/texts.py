"""Every word a user reads: jinja2 templates and per-locale labels, checked once at start-up.

Templates render Telegram's HTML subset with autoescape on, so user text passed in as a
parameter is always escaped. Channels that show plain text turn the markup into text with
`bot.markup.to_plain`. Japanese is the default locale.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from pathlib import Path

import jinja2

from bot import ROOT
from rates.amounts import format_yen

LOCALES = ("ja", "en")
DEFAULT_LOCALE = "ja"
TEMPLATES_DIR = ROOT / "templates"
SUFFIX = ".j2"
# Label groups a locale fills only where it needs to (short forms that fall back to the label).
PARTIAL_GROUPS = frozenset({"line"})


class TextError(LookupError):
    """A template or label is missing or broken."""


def _as_date(value: date | str) -> date:
    if isinstance(value, str):  # stored records keep ISO 8601 strings
        return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    return value


def _calendar(calendar: dict, form: str, value: date | str) -> str:
    """A date (or date and time) in the locale's words: forms in labels.toml [calendar]."""
    value = _as_date(value)
    return calendar[form].format(
        year=value.year,
        month=value.month,
        day=value.day,
        month_name=calendar["months"][value.month - 1],
        weekday=calendar["weekdays"][value.weekday()],
        time=f"{value:%H:%M}" if isinstance(value, datetime) else "",
    )


def _yen(locale: str, amount: int) -> str:
    return format_yen(amount, "digits" if locale == "ja" else "yen_sign")


def _yen_units(locale: str, amount: int) -> str:
    """Large sums in Japanese read in 万/億 units rather than as a long row of digits."""
    return format_yen(amount, "units" if locale == "ja" else "yen_sign")


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Templates compiled once per machine, not at every start (208 of them, ~0.3 s of each
    start-up: a bot restarted after a crash answers sooner). Jinja keys each by its file and
    source, in a folder of the temp directory only this user may write; with no such folder
    (a read-only file system) they are compiled at start as before."""
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


class Texts:
    """Renders template keys like "quote/revenue" and looks up labels, per locale."""

    def __init__(self, root: Path = TEMPLATES_DIR):
        self.root = root
        self._labels = {loc: self._load_labels(root / loc) for loc in LOCALES}
        self._envs = {loc: self._environment(loc) for loc in LOCALES}

    def _load_labels(self, folder: Path) -> dict[str, dict[str, str]]:
        """labels.toml plus labels/*.toml (one per feature); a group may be defined only once."""
        labels: dict[str, dict[str, str]] = {}
        for path in [folder / "labels.toml", *sorted((folder / "labels").glob("*.toml"))]:
            try:
                with path.open("rb") as f:
                    groups = tomllib.load(f)
            except (OSError, tomllib.TOMLDecodeError) as e:
                raise TextError(f"{path}: {e}") from None
            for group in set(groups) & set(labels):
                raise TextError(f"{path}: label group [{group}] is already defined")
            labels.update(groups)
        return labels

    def _environment(self, locale: str) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.root / locale),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            # Loaded once and kept: no stat() of the file on every render (templates change
            # with a deploy, which restarts the process).
            auto_reload=False,
            cache_size=-1,
            bytecode_cache=_bytecode_cache(),
        )
        calendar = self._labels[locale]["calendar"]
        env.filters.update(
            yen=lambda v: _yen(locale, v),
            yen_units=lambda v: _yen_units(locale, v),
            date=lambda v: _calendar(calendar, "date", v),
            weekday_date=lambda v: _calendar(calendar, "date_weekday", v),
            datetime=lambda v: _calendar(calendar, "datetime", v),
        )
        env.globals["label"] = lambda group, code: self.label(locale, group, code)
        env.globals["locale"] = locale
        return env

    def render(self, locale: str, key: str, /, **params) -> str:
        """The message for a template key, with surrounding blank space trimmed."""
        try:
            template = self._envs[locale].get_template(key + SUFFIX)
        except jinja2.TemplateNotFound:
            raise TextError(f"no template {key!r} for locale {locale!r}") from None
        return template.render(**params).strip()

    def label(self, locale: str, group: str, code: str) -> str:
        try:
            return self._labels[locale][group][code]
        except KeyError:
            raise TextError(f"no label {group}.{code} for locale {locale!r}") from None

    def labels(self, locale: str, group: str) -> dict[str, str]:
        return dict(self._labels[locale].get(group, {}))

    def keys(self, locale: str) -> list[str]:
        """Every message key (partials, whose names start with "_", are not keys)."""
        base = self.root / locale
        return sorted(
            str(p.relative_to(base).with_suffix("")).replace("\\", "/")
            for p in base.rglob("*" + SUFFIX)
            if not p.name.startswith("_")
        )

    def has(self, locale: str, key: str) -> bool:
        return (self.root / locale / (key + SUFFIX)).is_file()

    def check(self) -> None:
        """Start-up check: both locales have the same keys and labels, and every template parses."""
        reference = DEFAULT_LOCALE
        for locale in LOCALES:
            if set(self.keys(locale)) != set(self.keys(reference)):
                diff = set(self.keys(locale)) ^ set(self.keys(reference))
                raise TextError(f"templates differ between {locale} and {reference}: {sorted(diff)}")
            for group, entries in self._labels[reference].items():
                if group in PARTIAL_GROUPS:
                    continue
                other = self._labels[locale].get(group, {})
                if set(entries) != set(other):
                    diff = sorted(set(entries) ^ set(other))
                    raise TextError(f"labels differ between {locale} and {reference}: {group}.{diff}")
            env = self._envs[locale]
            for name in env.list_templates(extensions=[SUFFIX[1:]]):
                try:
                    env.get_template(name)
                except jinja2.TemplateSyntaxError as e:
                    raise TextError(f"{locale}/{name}:{e.lineno}: {e.message}") from None
