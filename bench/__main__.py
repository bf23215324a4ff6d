"""Run the benchmarks and print a table (``make bench`` = ``python -m bench``).

    python -m bench                 # every group
    python -m bench single sweep    # some groups
    python -m bench --quick         # fewer repeats (a smoke run)

Each group is a module with ``run(quick: bool) -> list[bench.common.Row]`` (and a ``TITLE``);
add one by registering it in :data:`GROUPS`. ``run()`` without ``quick`` and rows given as
dicts ``{"benchmark", "value", "unit", "note"}`` are accepted too. A group that fails becomes
a row saying so; the others still run. The table also goes to bench/results/latest.md.
Figures, never assertions: speed is reported here, not tested.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import time
from collections.abc import Mapping
from typing import Any

from bench.common import RESULTS_DIR, Row, machine, render_markdown, render_text

# name -> module; later work (sweep machinery, jobs, dashboard) adds its groups here
GROUPS: dict[str, str] = {
    "single": "bench.single",
    "sweep": "bench.sweep",
    "cli": "bench.cli",
    "jobs": "bench.jobs_bench",
    "charts": "bench.charts_bench",
    "sweeps": "bench.sweep_bench",
    "dashboard": "bench.dashboard_bench",
    "browser": "bench.browser_bench",
    "load": "bench.load_bench",
    "strategy": "bench.strategy_bench",
    "search": "bench.search_bench",
}


def run_group(name: str, quick: bool) -> list[Row]:
    """Import and run one group; adapt dict rows; a failure is reported as a row."""
    try:
        module = importlib.import_module(GROUPS[name])
        title = str(getattr(module, "TITLE", name))
        params = inspect.signature(module.run).parameters
        raw = module.run(quick=quick) if "quick" in params else module.run()
    except Exception as exc:  # one broken group must not hide the others' figures
        return [Row(name, "-", "-", note=f"group failed: {type(exc).__name__}: {exc}")]
    return [r if isinstance(r, Row) else _from_dict(title, r) for r in raw]


def _from_dict(title: str, row: Mapping[str, Any]) -> Row:
    value, unit = row.get("value", ""), row.get("unit", "")
    return Row(
        title, str(row.get("benchmark", "")), "", f"{value} {unit}".strip(),
        note=str(row.get("note", "")),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the selected groups, print the table, write bench/results/latest.md."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help=f"some of {', '.join(GROUPS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    ns = parser.parse_args(argv)
    unknown = [g for g in ns.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}")
    rows: list[Row] = []
    started = time.time()
    for name in ns.groups or list(GROUPS):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(run_group(name, ns.quick))
    header = (
        f"# Benchmarks ({time.strftime('%Y-%m-%d %H:%M', time.localtime(started))})\n\n"
        f"Machine: {machine()}. Medians of warm repeats unless noted."
    )
    print(render_text(rows))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "latest.md").write_text(render_markdown(rows, header), encoding="utf-8")
    print(f"\nwritten to {RESULTS_DIR / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
