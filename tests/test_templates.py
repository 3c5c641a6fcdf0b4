"""Every word a user reads: each template renders in both languages, each option has labels."""

from datetime import date

import pytest

from bot.markup import to_plain
from bot.texts import LOCALES, TEMPLATES_DIR, Texts
from dialogs import all_dialogs
from dialogs.steps import Ask, Choose, Compute, Menu, MultiChoose, options_of
from rates.codes import CHANNELS, INDUSTRIES
from rates.pricing import QuoteRequest, quote
from rates.tables import load_rates
from tests.support.samples import sample_params, variants

TEXTS = Texts()
BOOK = load_rates()


def test_templates_both_locales_have_the_same_keys_and_labels():
    """The start-up check passes: same template keys and label entries in ja and en."""
    TEXTS.check()
    assert TEXTS.keys("ja") == TEXTS.keys("en")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("key", TEXTS.keys("ja"))
def test_templates_every_key_renders(locale, key):
    """Each template renders without an undefined name, in each variant of its parameters."""
    for params in variants(key):
        text = TEXTS.render(locale, key, **sample_params(key) | params)
        assert text.strip(), f"{locale}/{key} rendered nothing for {params}"


def test_templates_japanese_stays_out_of_english():
    """English templates contain no Japanese sentences (a few quoted words are allowed)."""
    for key in TEXTS.keys("en"):
        for params in variants(key):
            text = TEXTS.render("en", key, **sample_params(key) | params)
            kana = [c for c in text if "\u3040" <= c <= "\u30ff"]
            assert len(kana) < 10, f"en/{key} reads Japanese: {text[:200]}"


@pytest.mark.parametrize("dialog", list(all_dialogs().values()), ids=lambda d: d.name)
def test_templates_every_step_has_a_prompt_and_a_reprompt(dialog):
    """Each question and menu has "<dialog>/<step>" and "<dialog>/<step>_invalid" in ja and en."""
    for step in dialog.steps:
        if isinstance(step, Compute):
            continue
        for locale in LOCALES:
            assert TEXTS.has(locale, f"{dialog.name}/{step.id}")
            if isinstance(step, Ask | Choose | MultiChoose | Menu):
                assert TEXTS.has(locale, f"{dialog.name}/{step.id}_invalid")


@pytest.mark.parametrize("dialog", list(all_dialogs().values()), ids=lambda d: d.name)
def test_templates_every_option_has_a_label_and_a_short_token(dialog):
    """Every button has a label in both languages and callback data of at most 64 ASCII bytes."""
    for step in dialog.steps:
        if not isinstance(step, Choose | MultiChoose | Menu):
            continue
        for code in (*options_of(step, {}), "done", "resume"):
            token = f"{dialog.name}.{step.id}.{code}".encode("ascii")
            assert len(token) <= 64
            if code in ("done", "resume"):
                continue
            for locale in LOCALES:
                assert TEXTS.label(locale, step.labels, code)


def test_templates_every_industry_and_channel_has_labels():
    """The closed vocabularies of a quote are all named, in both languages."""
    for locale in LOCALES:
        assert set(TEXTS.labels(locale, "industry")) == set(INDUSTRIES)
        assert set(TEXTS.labels(locale, "channel")) == set(CHANNELS)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    ("revenue", "industry", "channels"),
    [
        (300_000_000, "retail", ("rakuten", "own_ec")),
        (100_000_000, "care_welfare", ("physical_store",)),
        (2_000_000_000, "wholesale", ("rakuten", "b2b")),
        (100_000_000, "public_body", ("other",)),
        (100_000_000, "it_services", ("own_ec",)),
    ],
)
def test_templates_quote_result_names_every_code_and_fits_telegram(locale, revenue, industry, channels):
    """A quote result renders every product, plan, exclusion and contact, within 4096 characters."""
    result = quote(BOOK, QuoteRequest(revenue, industry, frozenset(channels), date(2026, 11, 22)))
    html = TEXTS.render(locale, "quote/result", q=result.to_json(), ref="Q-20261122-0001")
    assert len(html) <= 4096
    text = to_plain(html)
    for offer in result.offers:
        assert TEXTS.label(locale, "product", offer.product) in text
        for code in offer.exclusions:
            assert TEXTS.label(locale, "exclusion", code) in text


def test_templates_are_compiled_once_per_machine_not_at_every_start(monkeypatch, tmp_path):
    """A restarted bot loads the templates it compiled before (jinja2's bytecode cache) instead of
    compiling all of them again; a template whose text changed is compiled anew."""
    import jinja2

    root = tmp_path / "templates"
    for locale in LOCALES:  # a copy, so that changing one touches nobody else's cache entry
        (root / locale).mkdir(parents=True)
        for path in (TEMPLATES_DIR / locale).rglob("*"):
            target = root / locale / path.relative_to(TEMPLATES_DIR / locale)
            if path.is_dir():
                target.mkdir(exist_ok=True)
            else:
                target.write_bytes(path.read_bytes())
    compiled = []
    real = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, *args, **kwargs):
        compiled.append(name)
        return real(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    Texts(root).check()
    assert len(compiled) > 100  # the first start compiles every template
    compiled.clear()
    Texts(root).check()
    assert compiled == []
    (root / "ja" / "menu" / "start.j2").write_text("{{ 1 }}", encoding="utf-8")
    Texts(root).check()
    assert compiled == ["menu/start.j2"]
