"""Turn revenue, industry, sales channels and a date into offers, referrals and declines.

Every premium here is read from a table; the only arithmetic is the first-period total of a
monthly plan (monthly premium × months of cover), which the rakuten_group seed asks for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

from rates.codes import CHANNELS, INDUSTRIES
from rates.coverage import coverage_period
from rates.tables import BandedTable, RateBook, ReferenceTable


@dataclass(frozen=True)
class QuoteRequest:
    revenue_yen: int
    industry: str
    channels: frozenset[str]
    applied_on: date

    def __post_init__(self):
        if self.revenue_yen < 0:
            raise ValueError("revenue must not be negative")
        if self.industry not in INDUSTRIES:
            raise ValueError(f"unknown industry {self.industry!r}")
        unknown = set(self.channels) - set(CHANNELS)
        if unknown or not self.channels:
            raise ValueError(f"channels must be one or more of {CHANNELS}")


@dataclass(frozen=True)
class Offer:
    product: str
    plan: str
    monthly_premium_yen: int | None
    annual_premium_yen: int | None
    liability_limit_yen: int | None
    lawsuit_inner_limit_yen: int | None
    expense_limit_yen: int | None
    deductible_yen: int | None
    coverage_start: datetime | None
    coverage_end: datetime | None
    first_period_months: int | None
    first_period_total_yen: int | None
    indicative: bool
    reference_revenue_yen: int | None
    revenue_basis: str
    exclusions: tuple[str, ...]
    source: str
    effective_date: date | None


@dataclass(frozen=True)
class Referral:
    product: str
    reason: str
    contact: str
    contact_id: str


@dataclass(frozen=True)
class Decline:
    product: str | None  # None: no product may be offered at all
    reason: str


@dataclass(frozen=True)
class RateSource:
    """Where a product's figures come from, shown under every quote."""

    product: str
    source: str
    effective_date: date | None


@dataclass(frozen=True)
class Quote:
    request: QuoteRequest
    offers: tuple[Offer, ...] = ()
    referrals: tuple[Referral, ...] = ()
    declined: tuple[Decline, ...] = ()
    rates: tuple[RateSource, ...] = ()

    def to_json(self) -> dict:
        """The machine-readable quote: int yen for money, ISO 8601 (+09:00) for times."""
        return _plain(
            {
                "revenue_yen": self.request.revenue_yen,
                "industry": self.request.industry,
                "channels": [c for c in CHANNELS if c in self.request.channels],
                "applied_on": self.request.applied_on,
                "offers": [asdict(o) for o in self.offers],
                "referrals": [asdict(r) for r in self.referrals],
                "declined": [asdict(d) for d in self.declined],
                "rates": [asdict(r) for r in self.rates],
            }
        )


def _plain(value):
    """Dates to ISO strings and tuples to lists, recursively, so json.dumps takes the result."""
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def quote(book: RateBook, request: QuoteRequest) -> Quote:
    """All that the published tables say about this merchant."""
    declined: tuple[Decline, ...] = ()
    offers, referrals = [], []
    for table in book.banded:
        if not _eligible(table, request):
            continue
        refused = _declines(book, request) if table.product == book.declines.product else ()
        if refused:  # seed 004 rules out this product only; its agent can still be asked
            declined += refused
            contact = book.declines.contact
            referrals.append(Referral(table.product, "declined_ask_agent", contact.reachable_at, contact.id))
            continue
        band = table.band_for(request.revenue_yen)
        if band is None:
            referrals.append(_referral(table.product, table.above_ceiling))
            continue
        offers.extend(
            _banded_offer(table, plan.id, band.premium_yen[plan.id], request) for plan in table.plans
        )
    for table in book.reference:
        premium = table.premium_by_industry.get(request.industry)
        if premium is not None:
            offers.append(_reference_offer(table, premium))
        reason = table.referral.reason if premium is not None else "industry_not_published"
        referrals.append(
            Referral(
                table.product,
                reason,
                table.referral.contact.reachable_at,
                table.referral.contact.id,
            )
        )
    named = {o.product for o in offers} | {r.product for r in referrals}
    rates = tuple(
        RateSource(t.product, t.source, t.effective_date) for t in book.products if t.product in named
    )
    return Quote(request, offers=tuple(offers), referrals=tuple(referrals), declined=declined, rates=rates)


def _declines(book: RateBook, request: QuoteRequest) -> tuple:
    """Seed 004's conditions, for the one product they belong to (book.declines.product)."""
    product, reasons = book.declines.product, []
    if request.industry in book.declines.excluded_industries:
        reasons.append(Decline(product, f"excluded_industry_{request.industry}"))
    if request.revenue_yen > book.declines.max_revenue_yen:
        reasons.append(Decline(product, "revenue_above_max"))
    return tuple(reasons)


def _eligible(table: BandedTable, request: QuoteRequest) -> bool:
    if table.requires_channel and table.requires_channel not in request.channels:
        return False
    return not (table.requires_industry and table.requires_industry != request.industry)


def _referral(product: str, referral) -> Referral:
    return Referral(product, referral.reason, referral.contact.reachable_at, referral.contact.id)


def _offer(table: BandedTable | ReferenceTable, plan, premium: int, **specific) -> Offer:
    """What every offer states the same way: the plan's limits, the premium and where it came from."""
    monthly = table.premium_basis == "monthly"
    return Offer(
        product=table.product,
        plan=plan.id,
        monthly_premium_yen=premium if monthly else None,
        annual_premium_yen=None if monthly else premium,
        liability_limit_yen=plan.liability_limit_yen,
        lawsuit_inner_limit_yen=plan.lawsuit_inner_limit_yen,
        expense_limit_yen=plan.expense_limit_yen,
        revenue_basis=table.revenue_basis,
        exclusions=table.exclusions,
        source=table.source,
        effective_date=table.effective_date,
        **specific,
    )


def _banded_offer(table: BandedTable, plan_id: str, premium: int, request: QuoteRequest) -> Offer:
    plan = next(p for p in table.plans if p.id == plan_id)
    period = coverage_period(table.coverage_rule, request.applied_on)
    monthly = table.premium_basis == "monthly"
    return _offer(
        table,
        plan,
        premium,
        deductible_yen=table.deductible_yen,
        coverage_start=period.start if period else None,
        coverage_end=period.end if period else None,
        first_period_months=period.months if period else None,
        first_period_total_yen=premium * period.months if period and monthly else None,
        indicative=False,
        reference_revenue_yen=None,
    )


def _reference_offer(table: ReferenceTable, premium: int) -> Offer:
    """The published figure at the reference revenue: indicative, no dates, no deductible stated."""
    return _offer(
        table,
        table.plan,
        premium,
        deductible_yen=None,
        coverage_start=None,
        coverage_end=None,
        first_period_months=None,
        first_period_total_yen=None,
        indicative=True,
        reference_revenue_yen=table.reference_revenue_yen,
    )
