"""Premiums, referrals and declines, checked against figures copied by hand from the seeds."""

from datetime import date

import pytest

from rates.pricing import QuoteRequest, quote
from rates.tables import load_rates

BOOK = load_rates()
NOV_22 = date(2026, 11, 22)


def run(revenue, industry="retail", channels=("rakuten",), on=NOV_22):
    return quote(BOOK, QuoteRequest(revenue, industry, frozenset(channels), on))


def monthly(result, product, plan):
    (offer,) = [o for o in result.offers if o.product == product and o.plan == plan]
    return offer.monthly_premium_yen


# Seed 000 (楽天市場 団体保険) 月払保険料, both sides of every band boundary.
RAKUTEN_BANDS = [
    (0, 1_000, 2_000),
    (1, 1_000, 2_000),
    (30_000_000, 1_000, 2_000),
    (30_000_001, 2_000, 4_000),
    (100_000_000, 2_000, 4_000),
    (100_000_001, 3_500, 7_500),
    (300_000_000, 3_500, 7_500),
    (300_000_001, 4_100, 9_000),
    (500_000_000, 4_100, 9_000),
    (500_000_001, 5_300, 11_500),
    (1_000_000_000, 5_300, 11_500),
]


@pytest.mark.parametrize(("revenue", "mini", "standard"), RAKUTEN_BANDS)
def test_pricing_rakuten_band_boundaries(revenue, mini, standard):
    """Each revenue at or next to a band edge gets the seed's monthly premium for both plans."""
    result = run(revenue)
    assert monthly(result, "rakuten_group", "mini") == mini
    assert monthly(result, "rakuten_group", "standard") == standard


def test_pricing_rakuten_limits_and_deductible():
    """Mini 1,000万/100万, standard 1億/1,000万, both with 1,000万 lawsuit costs inside."""
    by_plan = {o.plan: o for o in run(300_000_000).offers if o.product == "rakuten_group"}
    assert (by_plan["mini"].liability_limit_yen, by_plan["mini"].expense_limit_yen) == (
        10_000_000,
        1_000_000,
    )
    assert (by_plan["standard"].liability_limit_yen, by_plan["standard"].expense_limit_yen) == (
        100_000_000,
        10_000_000,
    )
    assert {o.lawsuit_inner_limit_yen for o in by_plan.values()} == {10_000_000}
    assert {o.deductible_yen for o in by_plan.values()} == {0}


def test_pricing_rakuten_above_ceiling_is_a_referral_to_the_agent():
    """Above 10億円 there is no rakuten premium, only a referral to 0120-994-294."""
    result = run(1_000_000_001)
    assert not [o for o in result.offers if o.product == "rakuten_group"]
    (referral,) = [r for r in result.referrals if r.product == "rakuten_group"]
    assert (referral.reason, referral.contact) == ("above_ceiling", "0120-994-294")


def test_pricing_rakuten_needs_a_rakuten_store():
    """A merchant without a 楽天市場 store is not offered the rakuten group plan."""
    result = run(300_000_000, channels=("own_ec", "physical_store"))
    assert not [o for o in result.offers if o.product == "rakuten_group"]
    assert not [r for r in result.referrals if r.product == "rakuten_group"]


def test_pricing_rakuten_first_period_total():
    """Applied 22 Nov 2026, cover runs 1 Jan–1 Aug 2027: mini costs 7 × 3,500円 = 24,500円."""
    offer = next(o for o in run(300_000_000).offers if o.plan == "mini")
    assert (offer.first_period_months, offer.first_period_total_yen) == (7, 24_500)
    assert offer.coverage_start.isoformat() == "2027-01-01T16:00:00+09:00"
    assert offer.coverage_end.isoformat() == "2027-08-01T16:00:00+09:00"


# Seed 003 (情報漏えい限定補償型) 年間保険料, both sides of every band boundary.
CARE_BANDS = [
    (0, 20_000),
    (50_000_000, 20_000),
    (50_000_001, 30_000),
    (100_000_000, 30_000),
    (100_000_001, 40_000),
    (150_000_000, 40_000),
    (150_000_001, 45_000),
    (200_000_000, 45_000),
    (200_000_001, 55_000),
    (250_000_000, 55_000),
    (250_000_001, 66_000),
    (300_000_000, 66_000),
    (300_000_001, 88_000),
    (400_000_000, 88_000),
    (400_000_001, 109_000),
    (500_000_000, 109_000),
]


@pytest.mark.parametrize(("revenue", "annual"), CARE_BANDS)
def test_pricing_care_band_boundaries(revenue, annual):
    """Each revenue at or next to a band edge gets the seed's annual premium, no monthly one."""
    (offer,) = [
        o for o in run(revenue, "care_welfare", ("physical_store",)).offers if o.product == "care_facility"
    ]
    assert (offer.annual_premium_yen, offer.monthly_premium_yen) == (annual, None)
    assert (offer.liability_limit_yen, offer.expense_limit_yen, offer.deductible_yen) == (
        100_000_000,
        1_000_000,
        0,
    )


def test_pricing_care_above_ceiling_is_a_referral():
    """Above 5億円 the care table says 別途ご照会: a referral, no premium."""
    result = run(500_000_001, "care_welfare", ("physical_store",))
    assert not [o for o in result.offers if o.product == "care_facility"]
    (referral,) = [r for r in result.referrals if r.product == "care_facility"]
    assert referral.reason == "above_ceiling"


def test_pricing_care_only_for_care_facilities():
    """The care scheme is not offered to a retailer."""
    assert not [o for o in run(100_000_000, "retail").offers if o.product == "care_facility"]


@pytest.mark.parametrize(
    ("industry", "premium"),
    [
        ("manufacturing", 5_860),
        ("retail", 8_140),
        ("wholesale", 5_430),
        ("logistics", 14_440),
        ("construction", 5_430),
    ],
)
@pytest.mark.parametrize("revenue", [10_000_000, 500_000_000, 40_000_000_000])
def test_pricing_sme_reference_is_the_figure_at_500m(industry, premium, revenue):
    """Seed 002's monthly figure at 5億円 is shown, indicative, whatever the merchant's revenue."""
    (offer,) = [o for o in run(revenue, industry, ("b2b",)).offers if o.product == "sme_cyber"]
    assert (offer.monthly_premium_yen, offer.indicative, offer.reference_revenue_yen) == (
        premium,
        True,
        500_000_000,
    )
    (referral,) = [r for r in run(revenue, industry, ("b2b",)).referrals if r.product == "sme_cyber"]
    assert referral.reason == "exact_quote"


def test_pricing_sme_other_industries_get_a_referral_only():
    """No figure is published for IT services, so the merchant is referred for a quote."""
    result = run(100_000_000, "it_services", ("own_ec",))
    assert result.offers == ()
    assert [(r.product, r.reason) for r in result.referrals] == [("sme_cyber", "industry_not_published")]


@pytest.mark.parametrize("industry", ["public_body", "consumer_lender_unlisted", "mutual_aid_ceremony"])
def test_pricing_excluded_industries_are_declined(industry):
    """Seed 004's ineligible businesses cannot take out the 三井住友海上 product (the Rakuten scheme,
    サイバープロテクター) — with the reason and the agent's 0120-994-294 (seed 000) — while the
    other products still reach them (issue 9): here Sompo's page, as no figure is published."""
    result = run(100_000_000, industry)
    assert [(d.product, d.reason) for d in result.declined] == [
        ("rakuten_group", f"excluded_industry_{industry}")
    ]
    assert not [o for o in result.offers if o.product == "rakuten_group"]
    assert [(r.product, r.reason, r.contact) for r in result.referrals] == [
        ("rakuten_group", "declined_ask_agent", "0120-994-294"),
        ("sme_cyber", "industry_not_published", "https://www.sompo-japan.co.jp/hinsurance/cyberrisk/"),
    ]


def test_pricing_excluded_industry_off_rakuten_sees_no_ms_decline():
    """A public body that sells no Rakuten shop is not eligible for the scheme anyway: no decline
    line, and Sompo still refers it (seed 004 belongs to the 三井住友海上 product only)."""
    result = run(100_000_000, "public_body", ("b2b",))
    assert result.declined == ()
    assert [r.product for r in result.referrals] == ["sme_cyber"]


@pytest.mark.parametrize(("revenue", "declined"), [(500_000_000_000, False), (500_000_000_001, True)])
def test_pricing_revenue_above_500_billion_is_declined(revenue, declined):
    """5,000億円 is still insurable (via referral); one yen more rules out the 三井住友海上 product
    only (seed 004 ③): Sompo's indicative retail figure (8,140円 at 5億, seed 002) still shows."""
    result = run(revenue)
    assert bool(result.declined) is declined
    assert [o.monthly_premium_yen for o in result.offers if o.product == "sme_cyber"] == [8_140]
    if declined:
        assert [(d.product, d.reason) for d in result.declined] == [("rakuten_group", "revenue_above_max")]
        assert not [o for o in result.offers if o.product == "rakuten_group"]


def test_pricing_json_shape_for_the_issue_example():
    """3億, retail, rakuten + own EC: mini 3,500円 and standard 7,500円 a month, annual null."""
    data = run(300_000_000, "retail", ("rakuten", "own_ec")).to_json()
    rakuten = [o for o in data["offers"] if o["product"] == "rakuten_group"]
    assert [(o["plan"], o["monthly_premium_yen"], o["annual_premium_yen"]) for o in rakuten] == [
        ("mini", 3_500, None),
        ("standard", 7_500, None),
    ]
    assert data["channels"] == ["rakuten", "own_ec"]
    assert rakuten[0]["source"] == "seeds/000_ea39abb2f9fb4edf.txt"
    assert {r["product"] for r in data["rates"]} == {"rakuten_group", "sme_cyber"}
