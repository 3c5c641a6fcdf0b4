"""The benchmark kit itself: the runner's verdict and the scripts it drives. Nothing here is timed."""

import sys
import types

from benchmarks.__main__ import main
from benchmarks.common import Result, Target, bench_app, percentile, quote_conversation, temp_app
from benchmarks.scale import SAMPLE, Filler


def fake_area(monkeypatch, run) -> None:
    module = types.ModuleType("benchmarks.amounts")
    module.run = run
    monkeypatch.setitem(sys.modules, "benchmarks.amounts", module)


def test_benchmarks_a_missed_target_fails_the_run(monkeypatch, capsys):
    """A measured figure on the wrong side of its target makes `python -m benchmarks` exit 1."""

    async def run():
        return [Result("x", "per call", 80.0, Target("<", 50, "µs"))]

    fake_area(monkeypatch, run)
    assert main(["amounts"]) == 1
    assert "MISSED" in capsys.readouterr().out


def test_benchmarks_all_targets_met_exits_zero(monkeypatch):
    """Every target met (a ceiling under, a floor reached) is exit code 0."""

    async def run():
        return [Result("x", "a", 10.0, Target("<", 50, "µs")), Result("x", "b", 100, Target(">=", 100, "/s"))]

    fake_area(monkeypatch, run)
    assert main(["amounts"]) == 0


def test_benchmarks_a_crashing_area_fails_the_run(monkeypatch, capsys):
    """A benchmark that raises is reported as broken, not skipped."""

    async def run():
        raise RuntimeError("boom")

    fake_area(monkeypatch, run)
    assert main(["amounts"]) == 1
    assert "1 broken (amounts)" in capsys.readouterr().out


def test_benchmarks_percentile_is_nearest_rank():
    """p95 of 1..20 is 19, a value that was measured; one sample is its own p95."""
    assert percentile(range(1, 21), 95) == 19
    assert percentile([5.0], 95) == 5.0


async def test_benchmarks_quote_conversation_reaches_the_result():
    """The scripted conversation the benchmarks time still ends with a saved quote."""
    async with temp_app() as app:
        outcome = await quote_conversation(app, "telegram:1")
    assert "Q-20261122-0001" in outcome.replies[0].text


async def test_benchmarks_bulk_fill_matches_the_schema(tmp_path):
    """Conversations filled in bulk are ones the engine can load and continue."""
    path = tmp_path / "quotebot.db"
    app = await bench_app(path)
    await quote_conversation(app, SAMPLE)
    await app.close()
    filler = Filler(path)
    filler.read_sample()
    filler.fill_to(50)
    assert filler.rows()["conversations"] == 51
    app = await bench_app(path)
    try:
        outcome = await quote_conversation(app, filler.key(7))
    finally:
        await app.close()
    assert "Q-20261122-" in outcome.replies[0].text
