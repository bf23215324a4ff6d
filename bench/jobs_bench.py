"""Local executor benchmarks: submit-to-running latency and the throughput of 1,000 tiny jobs."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from jobs.local import LocalExecutor
from jobs.model import JobStatus
from jobs.settings import Settings

LATENCY_JOBS = 30
THROUGHPUT_JOBS = 1000


def _executor(root: Path, poll_ms: int = 200) -> LocalExecutor:
    return LocalExecutor(Settings(storage_root=str(root), poll_ms=poll_ms))


def _latency(root: Path) -> list[float]:
    """Seconds from submit() to the job's own first instruction, one job at a time."""
    out = []
    with _executor(root) as ex:
        for i in range(LATENCY_JOBS):
            before = time.time()
            job = ex.submit_command(["sh", "-c", "date +%s.%N"], name=f"lat-{i}", kind="run")
            done = ex.wait(job.id, timeout=60)
            if done.status is not JobStatus.SUCCEEDED:
                raise RuntimeError(f"latency job failed: {done.status_reason}")
            out.append(float(ex.logs(job.id).split()[0]) - before)
    return out


def _throughput(root: Path) -> tuple[float, float]:
    """(submit seconds, submit-to-all-done seconds) for THROUGHPUT_JOBS `true` jobs."""
    with _executor(root, poll_ms=20) as ex:
        start = time.perf_counter()
        ids = [
            ex.submit_command(["true"], name=f"tp-{i}", kind="run").id
            for i in range(THROUGHPUT_JOBS)
        ]
        submitted = time.perf_counter() - start
        for job_id in ids:
            if ex.wait(job_id, timeout=600).status is not JobStatus.SUCCEEDED:
                raise RuntimeError(f"throughput job {job_id} failed")
        return submitted, time.perf_counter() - start


def run() -> list[dict]:
    """Rows {"benchmark", "value", "unit", "note"} for `make bench`."""
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="jobs-bench-") as tmp:
        lat = sorted(_latency(Path(tmp) / "latency"))
        submitted, total = _throughput(Path(tmp) / "throughput")
    p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
    note = f"local executor, worker thread, {cores} slots"
    return [
        {
            "benchmark": "jobs.local submit-to-running latency (median)",
            "value": round(statistics.median(lat) * 1000, 1),
            "unit": "ms",
            "note": f"{LATENCY_JOBS} sequential jobs; {note}",
        },
        {
            "benchmark": "jobs.local submit-to-running latency (p95)",
            "value": round(p95 * 1000, 1),
            "unit": "ms",
            "note": f"{LATENCY_JOBS} sequential jobs; {note}",
        },
        {
            "benchmark": "jobs.local submit rate",
            "value": round(THROUGHPUT_JOBS / submitted, 1),
            "unit": "jobs/s",
            "note": f"{THROUGHPUT_JOBS} submit_command calls (SQLite WAL insert each)",
        },
        {
            "benchmark": "jobs.local throughput, 1000 tiny jobs",
            "value": round(THROUGHPUT_JOBS / total, 1),
            "unit": "jobs/s",
            "note": f"`true` x{THROUGHPUT_JOBS}, submit to all SUCCEEDED in {total:.1f}s; {note}",
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['benchmark']:<50} {row['value']:>10} {row['unit']:<7} {row['note']}")
