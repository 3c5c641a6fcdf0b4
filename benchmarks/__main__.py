"""Run the benchmarks, print measured against target, exit 1 if any target is missed."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import platform
import sys
import tempfile
import time
import traceback
import unicodedata

from benchmarks import AREAS
from benchmarks.common import Result, bench_dir, filesystem_of, fmt, fsync_latency, ms

AREA_TIMEOUT = 300.0  # seconds: a hung benchmark is reported as broken, and the run goes on


def width(text: str) -> int:
    """Columns on a terminal: full-width characters (Japanese) take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(results: list[Result]) -> str:
    rows = [("area", "metric", "measured", "target", "ok", "detail")]
    for r in results:
        shown = r.target.op != "info"
        target = f"{r.target.op} {fmt(r.target.value)} {r.target.unit}" if shown else ""
        measured = f"{fmt(r.measured)} {r.target.unit}"
        verdict = ("yes" if r.ok else "MISSED") if shown else ""
        rows.append((r.area, r.metric, measured, target, verdict, r.detail))
    widths = [max(width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(cell + " " * (w - width(cell)) for cell, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("areas", nargs="*", metavar="AREA", help=f"some of: {' '.join(AREAS)} (default: all)")
    areas = parser.parse_args(argv).areas or list(AREAS)
    if unknown := [a for a in areas if a not in AREAS]:
        parser.error(f"no such area: {' '.join(unknown)} (choose from {' '.join(AREAS)})")
    folder = bench_dir() or tempfile.gettempdir()
    print(
        f"python {platform.python_version()} on {platform.system()} {platform.machine()},"
        f" {os.cpu_count()} cores; databases under {folder} ({filesystem_of(folder)},"
        f" fsync of 4 KiB: {fmt(ms(fsync_latency(folder)))} ms median)",
        flush=True,
    )
    results: list[Result] = []
    broken: list[str] = []
    begin = time.perf_counter()
    for area in areas:
        start = time.perf_counter()
        print(f"  {area} ...", end=" ", flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{area}")
            found = asyncio.run(asyncio.wait_for(module.run(), getattr(module, "AREA_TIMEOUT", AREA_TIMEOUT)))
        except Exception:
            print("FAILED", flush=True)
            traceback.print_exc()
            sys.stderr.flush()
            broken.append(area)
            continue
        results += found
        missed = sum(not r.ok for r in found)
        print(f"{time.perf_counter() - start:.1f} s" + (f", {missed} missed" if missed else ""), flush=True)
    print()
    print(table(results))
    missed = [r for r in results if not r.ok]
    targets = [r for r in results if r.target.op != "info"]
    print(f"\n{len(targets) - len(missed)} met, {len(missed)} missed", end="")
    print(f", {len(broken)} broken ({', '.join(broken)})" if broken else "", end="")
    print(f"; {time.perf_counter() - begin:.0f} s in all")
    return 1 if missed or broken else 0


if __name__ == "__main__":
    sys.exit(main())
