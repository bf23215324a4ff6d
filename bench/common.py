"""Shared pieces of the benchmarks: result rows, timing, peak RSS, the markdown report."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"


@dataclass
class Row:
    """One line of the report. ``ok`` is None when the row has no target."""

    group: str
    case: str
    impl: str
    median: str = ""
    throughput: str = ""
    peak_rss: str = ""
    target: str = ""
    ok: bool | None = None
    note: str = ""


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    Linux: VmHWM from /proc/self/status. Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux
    carries that high-water mark over fork and exec, so a subprocess of a big parent would
    report the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024.0 if sys.platform != "darwin" else kib / 1024.0 / 1024.0


def fmt_time(seconds: float) -> str:
    """``0.0123`` -> ``"12.3 ms"``; ``1.5`` -> ``"1.50 s"``."""
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.3g} µs"
    return f"{seconds:.2f} s"


def synthetic(n_bars: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic bars from engine.sim.synthetic (daily beyond what calendars allow is fine: the
    index is microsecond-resolution, so a million business days fit)."""
    from engine.sim.synthetic import random_walk

    return random_walk(n_bars, seed=seed)


def machine() -> str:
    """One line about where the figures were measured."""
    cpus = os.cpu_count()
    try:
        load = "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "load n/a"
    return f"{platform.processor() or platform.machine()}, {cpus} CPUs, {load}, " + (
        f"Python {platform.python_version()}"
    )


COLUMNS = ("group", "case", "impl", "median", "throughput", "peak RSS", "target", "")


def _cells(row: Row) -> list[str]:
    status = "" if row.ok is None else ("ok" if row.ok else "MISS")
    return [
        row.group,
        row.case,
        row.impl,
        row.median,
        row.throughput,
        row.peak_rss,
        row.target,
        status,
    ]


def _where(row: Row) -> str:
    return f"{row.group}/{row.case}" + (f" ({row.impl})" if row.impl else "")


def render_text(rows: Iterable[Row]) -> str:
    """A fixed-width table for the terminal, notes underneath."""
    rows = list(rows)
    table = [list(COLUMNS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"* {_where(r)}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def render_markdown(rows: Iterable[Row], header: str) -> str:
    """The same table as markdown, for bench/results/latest.md."""
    rows = list(rows)
    out = [header, "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    notes = [f"- {_where(r)}: {r.note}" for r in rows if r.note]
    return "\n".join(out + (["", *notes] if notes else [])) + "\n"
