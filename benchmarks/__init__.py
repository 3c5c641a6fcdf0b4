"""Performance targets you can run: `make bench` (or `python -m benchmarks [area ...]`).

One module per area; each states its TARGETS and why in its docstring and returns `Result`s
(measured figure + target). The runner prints them as a table and exits non-zero if any
target is missed. Speed is measured here, never asserted in the unit tests.
"""

AREAS = (
    "amounts",
    "pricing",
    "engine",
    "scale",
    "concurrency",
    "telegram_app",
    "outbox",
    "versus",
    "floor",
    "footprint",
    "pg_workers",
    "pg_scale",
)
