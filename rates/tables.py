"""Load the published rate tables from rates/tables/*.toml and refuse any that are malformed.

Validation happens once, at start-up: a table whose bands are not ascending and contiguous, a
plan without a premium in some band, or an unknown key stops the program with the file named,
so a typo can never turn into a wrong premium in a live chat.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rates.codes import CHANNELS, INDUSTRIES

TABLES_DIR = Path(__file__).resolve().parent / "tables"
BANDED_PRODUCTS = ("rakuten_group", "care_facility")
REFERENCE_PRODUCTS = ("sme_cyber",)


class RateTableError(ValueError):
    """A rate table file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Plan:
    id: str
    liability_limit_yen: int | None = None
    lawsuit_inner_limit_yen: int | None = None
    expense_limit_yen: int | None = None


@dataclass(frozen=True)
class Band:
    from_yen: int
    up_to_yen: int
    premium_yen: Mapping[str, int]


@dataclass(frozen=True)
class Contact:
    id: str
    phone: str | None = None
    url: str | None = None

    @property
    def reachable_at(self) -> str:
        """What a script can dial or open; the id when the seed gives neither."""
        return self.phone or self.url or self.id


@dataclass(frozen=True)
class Referral:
    reason: str
    contact: Contact


@dataclass(frozen=True)
class BandedTable:
    """A premium by revenue band, per plan (seeds 000 and 003)."""

    product: str
    source: str
    effective_date: date | None
    premium_basis: str
    revenue_basis: str
    coverage_rule: str
    deductible_yen: int
    exclusions: tuple[str, ...]
    plans: tuple[Plan, ...]
    bands: tuple[Band, ...]
    ceiling_yen: int
    above_ceiling: Referral
    requires_channel: str | None = None
    requires_industry: str | None = None

    def band_for(self, revenue_yen: int) -> Band | None:
        """The band that contains the revenue, or None above the ceiling."""
        for band in self.bands:
            if band.from_yen <= revenue_yen <= band.up_to_yen:
                return band
        return None


@dataclass(frozen=True)
class ReferenceTable:
    """One published figure per industry at a stated revenue (seed 002)."""

    product: str
    source: str
    effective_date: date | None
    premium_basis: str
    revenue_basis: str
    coverage_rule: str
    exclusions: tuple[str, ...]
    plan: Plan
    reference_revenue_yen: int
    premium_by_industry: Mapping[str, int]
    referral: Referral


@dataclass(frozen=True)
class Declines:
    """Who cannot take out the 三井住友海上 product (seed 004); other products are unaffected."""

    source: str
    excluded_industries: frozenset[str]
    max_revenue_yen: int
    product: str = "rakuten_group"  # the one product these conditions belong to
    contact: Contact | None = None  # still named to a declined merchant


@dataclass(frozen=True)
class RateBook:
    banded: tuple[BandedTable, ...]
    reference: tuple[ReferenceTable, ...]
    declines: Declines

    @property
    def products(self) -> tuple[BandedTable | ReferenceTable, ...]:
        return (*self.banded, *self.reference)


def load_rates(directory: Path = TABLES_DIR) -> RateBook:
    """Read and validate every table; raise RateTableError naming the file on any problem."""
    contacts = _load_contacts(directory / "contacts.toml")
    banded = tuple(_banded(directory / f"{p}.toml", contacts) for p in BANDED_PRODUCTS)
    reference = tuple(_reference(directory / f"{p}.toml", contacts) for p in REFERENCE_PRODUCTS)
    products = {t.product for t in (*banded, *reference)}
    declines = _declines(directory / "declines.toml", contacts, products)
    return RateBook(banded=banded, reference=reference, declines=declines)


class _Reader:
    """Pops keys from one TOML table so that leftovers (typos) can be reported."""

    def __init__(self, path: Path, data: Mapping, where: str = ""):
        self.path, self.data, self.where = path, dict(data), where

    def fail(self, message: str) -> RateTableError:
        place = f" [{self.where}]" if self.where else ""
        return RateTableError(f"{self.path.name}{place}: {message}")

    def take(self, key: str, kind: type | tuple[type, ...], default=...):
        if key not in self.data:
            if default is ...:
                raise self.fail(f"missing key {key!r}")
            return default
        value = self.data.pop(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(f"{key!r} has the wrong type ({type(value).__name__})")
        return value

    def sub(self, key: str) -> _Reader:
        return _Reader(self.path, self.take(key, dict), key)

    def money(self, key: str, default=...) -> int | None:
        value = self.take(key, int, default)
        if value is not None and value is not ... and value < 0:
            raise self.fail(f"{key!r} must not be negative")
        return value

    def done(self) -> None:
        if self.data:
            raise self.fail(f"unknown key(s) {sorted(self.data)}")


def _open(path: Path) -> _Reader:
    try:
        with path.open("rb") as f:
            return _Reader(path, tomllib.load(f))
    except FileNotFoundError:
        raise RateTableError(f"{path.name}: file not found in {path.parent}") from None
    except tomllib.TOMLDecodeError as e:
        raise RateTableError(f"{path.name}: {e}") from None


def _load_contacts(path: Path) -> dict[str, Contact]:
    reader = _open(path)
    contacts = {}
    for key in list(reader.data):
        entry = reader.sub(key)
        contacts[key] = Contact(key, entry.take("phone", str, None), entry.take("url", str, None))
        entry.done()
    return contacts


def _common(reader: _Reader, expected_product: str) -> dict:
    product = reader.take("product", str)
    if product != expected_product:
        raise reader.fail(f"product is {product!r}, expected {expected_product!r}")
    if reader.take("currency", str) != "JPY":
        raise reader.fail("currency must be JPY (int yen)")
    basis = reader.take("premium_basis", str)
    if basis not in ("monthly", "annual"):
        raise reader.fail(f"premium_basis {basis!r} is neither monthly nor annual")
    return dict(
        product=product,
        source=reader.take("source", str),
        effective_date=reader.take("effective_date", date, None),
        premium_basis=basis,
        revenue_basis=reader.take("revenue_basis", str),
        coverage_rule=reader.take("coverage_rule", str),
        exclusions=tuple(reader.take("exclusions", list)),
    )


def _referral(reader: _Reader, contacts: Mapping[str, Contact]) -> Referral:
    reason = reader.take("referral_reason" if "referral_reason" in reader.data else "reason", str)
    contact_id = reader.take("contact", str)
    if contact_id not in contacts:
        raise reader.fail(f"contact {contact_id!r} is not in contacts.toml")
    return Referral(reason, contacts[contact_id])


def _plan(reader: _Reader) -> Plan:
    plan = Plan(
        id=reader.take("id", str),
        liability_limit_yen=reader.money("liability_limit_yen", None),
        lawsuit_inner_limit_yen=reader.money("lawsuit_inner_limit_yen", None),
        expense_limit_yen=reader.money("expense_limit_yen", None),
    )
    reader.done()
    return plan


def _banded(path: Path, contacts: Mapping[str, Contact]) -> BandedTable:
    reader = _open(path)
    common = _common(reader, path.stem)
    plans = tuple(_plan(_Reader(path, p, "plans")) for p in reader.take("plans", list))
    ceiling = reader.sub("ceiling")
    ceiling_yen = ceiling.money("revenue_yen")
    above = _referral(ceiling, contacts)
    ceiling.done()
    bands = []
    for raw in reader.take("bands", list):
        band = _Reader(path, raw, "bands")
        premiums = band.take("premium_yen", dict)
        bands.append(Band(band.money("from_yen"), band.money("up_to_yen"), premiums))
        band.done()
    table = BandedTable(
        **common,
        deductible_yen=reader.money("deductible_yen"),
        plans=plans,
        bands=tuple(bands),
        ceiling_yen=ceiling_yen,
        above_ceiling=above,
        requires_channel=reader.take("requires_channel", str, None),
        requires_industry=reader.take("requires_industry", str, None),
    )
    reader.done()
    _check_bands(reader, table)
    return table


def _check_bands(reader: _Reader, table: BandedTable) -> None:
    """Bands start at 0, follow each other with no gap or overlap, and end at the ceiling."""
    if not table.plans or not table.bands:
        raise reader.fail("a banded table needs plans and bands")
    plan_ids = [p.id for p in table.plans]
    if len(set(plan_ids)) != len(plan_ids):
        raise reader.fail(f"duplicate plan ids {plan_ids}")
    expected_from = 0
    for band in table.bands:
        where = f"band {band.from_yen:,}–{band.up_to_yen:,}"
        if band.from_yen != expected_from:
            kind = "gap" if band.from_yen > expected_from else "overlap"
            raise reader.fail(f"{where}: {kind}, expected it to start at {expected_from:,}")
        if band.up_to_yen < band.from_yen:
            raise reader.fail(f"{where}: bands must be ascending")
        if set(band.premium_yen) != set(plan_ids):
            raise reader.fail(f"{where}: premiums for {sorted(band.premium_yen)}, plans {plan_ids}")
        for plan, premium in band.premium_yen.items():
            if not isinstance(premium, int) or isinstance(premium, bool) or premium <= 0:
                raise reader.fail(f"{where}: premium for {plan} must be a positive int of yen")
        expected_from = band.up_to_yen + 1
    if table.bands[-1].up_to_yen != table.ceiling_yen:
        raise reader.fail(f"last band ends at {table.bands[-1].up_to_yen:,}, not the ceiling")
    if table.requires_channel is not None and table.requires_channel not in CHANNELS:
        raise reader.fail(f"unknown channel {table.requires_channel!r}")
    if table.requires_industry is not None and table.requires_industry not in INDUSTRIES:
        raise reader.fail(f"unknown industry {table.requires_industry!r}")


def _reference(path: Path, contacts: Mapping[str, Contact]) -> ReferenceTable:
    reader = _open(path)
    common = _common(reader, path.stem)
    if reader.take("indicative", bool) is not True:
        raise reader.fail("a reference table is always indicative")
    plans = reader.take("plans", list)
    if len(plans) != 1:
        raise reader.fail("a reference table has exactly one plan")
    referral_reader = reader.sub("referral")
    referral = _referral(referral_reader, contacts)
    referral_reader.done()
    premiums = reader.take("reference_premium_yen", dict)
    for industry, premium in premiums.items():
        if industry not in INDUSTRIES:
            raise reader.fail(f"unknown industry {industry!r}")
        if not isinstance(premium, int) or isinstance(premium, bool) or premium <= 0:
            raise reader.fail(f"premium for {industry} must be a positive int of yen")
    table = ReferenceTable(
        **common,
        plan=_plan(_Reader(path, plans[0], "plans")),
        reference_revenue_yen=reader.money("reference_revenue_yen"),
        premium_by_industry=premiums,
        referral=referral,
    )
    reader.done()
    return table


def _declines(path: Path, contacts: Mapping[str, Contact], products: set[str]) -> Declines:
    reader = _open(path)
    industries = frozenset(reader.take("excluded_industries", list))
    unknown = industries - set(INDUSTRIES)
    if unknown:
        raise reader.fail(f"unknown industries {sorted(unknown)}")
    source, limit = reader.take("source", str), reader.money("max_revenue_yen")
    product, contact_id = reader.take("product", str), reader.take("contact", str)
    if product not in products:
        raise reader.fail(f"product {product!r} has no table")
    if contact_id not in contacts:
        raise reader.fail(f"contact {contact_id!r} is not in contacts.toml")
    declines = Declines(source, industries, limit, product, contacts[contact_id])
    reader.done()
    return declines
