"""The closed vocabularies a quote is asked in: industry and sales-channel codes.

Labels for every code live in templates/<lang>/labels.toml; a test checks both sides agree.
"""

INDUSTRIES: tuple[str, ...] = (
    "manufacturing",
    "retail",
    "wholesale",
    "logistics",
    "construction",
    "care_welfare",
    "it_services",
    "food_service",
    "services",
    "other",
    "public_body",
    "consumer_lender_unlisted",
    "mutual_aid_ceremony",
)

CHANNELS: tuple[str, ...] = (
    "rakuten",
    "own_ec",
    "other_mall",
    "physical_store",
    "events",
    "b2b",
    "other",
)
