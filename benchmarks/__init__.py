"""Performance targets you can run: `make bench` (or `python -m benchmarks [area ...]`).

One module per area; each states its TARGETS and why in its docstring and returns `Result`s
(measured figure + target). The runner prints them as a table and exits non-zero if any
target is missed. Speed is measured here, never asserted in the unit tests.
"""

# concurrency, outbox and telegram_app were written against the engine before the seam (issue 8:
# engine.handle, OutboxWorker, build_application) and are not run until they are ported; the
# Telegram path is measured by versus now.
AREAS = ("amounts", "pricing", "engine", "scale", "versus", "footprint")
