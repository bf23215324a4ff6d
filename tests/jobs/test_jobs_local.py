"""Local executor end to end: real subprocesses, real SQLite, the real engine CLI."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import BacktestError, NotFoundError
from engine.sim.synthetic import random_walk
from engine.spec import RunSpec, SimOptions
from jobs.local import LocalExecutor
from jobs.model import JobKind, JobStatus
from jobs.settings import Settings

PY = sys.executable


def make(root: Path, concurrency: int = 2, **kw: object) -> LocalExecutor:
    settings = Settings(storage_root=str(root), poll_ms=20, kill_grace=1, **kw)  # type: ignore[arg-type]
    return LocalExecutor(settings, concurrency=concurrency)


@pytest.fixture
def ex(tmp_path: Path) -> Iterator[LocalExecutor]:
    executor = make(tmp_path / "store")
    yield executor
    executor.close()


def py(code: str) -> list[str]:
    return [PY, "-c", code]


def seed_prices(root: Path) -> None:
    (root / "input").mkdir(parents=True, exist_ok=True)
    (root / "results").mkdir(parents=True, exist_ok=True)
    random_walk(400, seed=3).to_csv(root / "input" / "prices.csv")


def wait_for_log(ex: LocalExecutor, job_id: str, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in ex.logs(job_id):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared in the log of {job_id}")
        time.sleep(0.02)


def test_engine_run_succeeds_and_writes_results(ex: LocalExecutor, tmp_path: Path) -> None:
    root = tmp_path / "store"
    seed_prices(root)
    spec = RunSpec(
        "input",
        "prices.csv",
        "results",
        params={"fast": 5, "slow": 20},
        options=SimOptions(commission=0.002),
        run_id="r1",
    )
    job = ex.submit_run(spec)
    assert job.kind is JobKind.RUN
    assert job.result_prefix == "s3://results/runs/r1/"
    assert job.spec is not None and job.spec["params"] == {"fast": 5, "slow": 20}
    done = ex.wait(job.id, timeout=120)
    assert done.status is JobStatus.SUCCEEDED, (done.status_reason, ex.logs(job.id))
    assert (root / "results" / "runs" / "r1" / "_SUCCESS").is_file()
    metrics = json.loads((root / "results" / "runs" / "r1" / "metrics.json").read_text())
    assert "sharpe" in metrics
    assert "runs/r1" in ex.logs(job.id)
    assert done.attempts == 1 and done.exit_code == 0
    assert done.started_at is not None and done.stopped_at is not None


def test_engine_bad_input_fails_with_its_one_line_reason(ex: LocalExecutor, tmp_path: Path) -> None:
    seed_prices(tmp_path / "store")
    job = ex.submit_run(RunSpec("input", "missing.csv", "results", run_id="bad"))
    done = ex.wait(job.id, timeout=120)
    assert done.status is JobStatus.FAILED
    assert done.exit_code == 2
    assert done.status_reason.startswith("exit code 2: error:")
    assert "missing.csv" in done.status_reason


def test_failing_command_reason_and_logs(ex: LocalExecutor) -> None:
    code = "import sys; print('working'); print('boom: bad thing', file=sys.stderr); sys.exit(3)"
    job = ex.submit_command(py(code), name="fails", kind="run")
    done = ex.wait(job.id, timeout=30)
    assert done.status is JobStatus.FAILED
    assert done.exit_code == 3
    assert done.status_reason == "exit code 3: boom: bad thing"
    assert ex.logs(job.id) == "working\nboom: bad thing\n"
    assert ex.logs(job.id, tail=1) == "boom: bad thing\n"
    assert Path(done.log or "").is_file()


def test_timeout_kills_the_attempt_without_retry(ex: LocalExecutor) -> None:
    job = ex.submit_command(
        py("import time; print('start', flush=True); time.sleep(60)"),
        name="slow",
        kind="run",
        timeout=1,
        attempts=2,
    )
    done = ex.wait(job.id, timeout=30)
    assert done.status is JobStatus.FAILED
    assert done.status_reason == "Job attempt duration exceeded timeout"
    assert done.attempts == 1
    assert done.exit_code == -signal.SIGTERM


def test_cancel_queued_and_terminate_running(tmp_path: Path) -> None:
    with make(tmp_path, concurrency=1) as ex:
        blocker = ex.submit_command(
            py("import time; print('ready', flush=True); time.sleep(60)"), name="b", kind="run"
        )
        queued = ex.submit_command(py("print('never')"), name="q", kind="run")
        wait_for_log(ex, blocker.id, "ready")
        cancelled = ex.cancel(queued.id)
        assert cancelled.status is JobStatus.FAILED
        assert cancelled.status_reason == "Cancelled by user"
        assert cancelled.started_at is None and cancelled.attempts == 0
        with pytest.raises(BacktestError, match="use terminate"):
            ex.cancel(blocker.id)
        ex.terminate(blocker.id)
        done = ex.wait(blocker.id, timeout=30)
        assert done.status is JobStatus.FAILED
        assert done.status_reason == "Terminated by user"
        assert done.exit_code == -signal.SIGTERM
        assert ex.get(queued.id).status_reason == "Cancelled by user"
        assert ex.logs(queued.id) == ""


def test_terminate_escalates_to_sigkill(ex: LocalExecutor) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    job = ex.submit_command(py(code), name="stubborn", kind="run")
    wait_for_log(ex, job.id, "ready")
    ex.terminate(job.id, reason="stop it")
    done = ex.wait(job.id, timeout=30)
    assert done.status is JobStatus.FAILED
    assert done.status_reason == "stop it"
    assert done.exit_code == -signal.SIGKILL


def test_attempts_retry_then_succeed_and_retry_makes_a_new_job(
    ex: LocalExecutor, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    code = (
        "import os, sys, pathlib; p = pathlib.Path(sys.argv[1]); "
        "print('attempt', os.environ['AWS_BATCH_JOB_ATTEMPT']); "
        "first = not p.exists(); p.touch(); sys.exit(1 if first else 0)"
    )
    job = ex.submit_command([*py(code), str(marker)], name="flaky", kind="run", attempts=2)
    done = ex.wait(job.id, timeout=30)
    assert done.status is JobStatus.SUCCEEDED
    assert done.attempts == 2
    assert ex.logs(job.id) == "attempt 2\n"

    failing = ex.submit_command(py("import sys; sys.exit(4)"), name="four", kind="collect")
    assert ex.wait(failing.id, timeout=30).status is JobStatus.FAILED
    again = ex.retry(failing.id)
    assert again.id != failing.id
    assert again.name == "four" and again.kind is JobKind.COLLECT
    assert again.command == failing.command
    assert ex.wait(again.id, timeout=30).exit_code == 4
    with pytest.raises(NotFoundError):
        ex.retry("no-such-job")


def test_restart_recovery_fails_or_requeues_vanished_jobs(tmp_path: Path) -> None:
    settings = Settings(storage_root=str(tmp_path), poll_ms=20, kill_grace=1)
    idle = LocalExecutor(settings, worker="none")
    once = idle.submit_command(py("print('x')"), name="once", kind="run", attempts=1)
    twice = idle.submit_command(py("print('again')"), name="twice", kind="run", attempts=2)
    dead = subprocess.Popen(["true"])
    dead.wait()
    # What a crashed worker leaves behind: RUNNING rows whose process is gone.
    db = sqlite3.connect(tmp_path / "_jobs" / "jobs.db")
    db.execute(
        "UPDATE jobs SET status='RUNNING', attempt=1, pid=?, started_at=? WHERE id IN (?, ?)",
        (dead.pid, time.time(), once.id, twice.id),
    )
    db.commit()
    db.close()
    idle.close()
    with LocalExecutor(settings) as ex:
        first = ex.wait(once.id, timeout=30)
        assert first.status is JobStatus.FAILED
        assert first.status_reason == "executor restarted"
        second = ex.wait(twice.id, timeout=30)
        assert second.status is JobStatus.SUCCEEDED
        assert second.attempts == 2
        assert ex.logs(twice.id) == "again\n"


def test_200_jobs_drain_fifo_within_the_concurrency_bound(tmp_path: Path) -> None:
    with make(tmp_path, concurrency=3) as ex:
        cmd = ["sh", "-c", "date +%s.%N; sleep 0.05; date +%s.%N"]
        ids = [ex.submit_command(cmd, name=f"tiny-{i}", kind="run").id for i in range(200)]
        for job_id in ids:
            assert ex.wait(job_id, timeout=120).status is JobStatus.SUCCEEDED
        spans = []
        for job_id in ids:
            start, end = (float(x) for x in ex.logs(job_id).split())
            spans.append((start, end))
        events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
        running = peak = 0
        for _, delta in events:
            running += delta
            peak = max(peak, running)
        assert 2 <= peak <= 3
        starts = [ex.get(job_id).started_at for job_id in ids]
        assert None not in starts
        assert starts == sorted(starts)  # type: ignore[type-var]  # FIFO: submission order
        assert len(ex.list(limit=500)) == 200
        assert [r.id for r in ex.list(limit=2)] == [ids[-1], ids[-2]]


def test_array_of_50_children_then_collect(ex: LocalExecutor, tmp_path: Path) -> None:
    out = tmp_path / "chunks"
    out.mkdir()
    child = [
        "sh",
        "-c",
        'echo "$AWS_BATCH_JOB_ID $AWS_BATCH_JOB_ARRAY_INDEX $AWS_BATCH_JOB_ATTEMPT '
        '$BACKTEST_STORAGE_ROOT" > "$OUT/$AWS_BATCH_JOB_ARRAY_INDEX"',
    ]
    parent = ex.submit_command(
        child, name="sweep-x", kind="sweep", env={"OUT": str(out)}, array_size=50
    )
    assert parent.array_size == 50 and parent.kind is JobKind.SWEEP
    collect_cmd = ["sh", "-c", 'ls "$OUT" | wc -l > "$OUT.count"']
    collect = ex.submit_command(
        collect_cmd, name="collect-x", kind="collect", env={"OUT": str(out)}, depends_on=[parent.id]
    )
    assert collect.status is JobStatus.PENDING
    done = ex.wait(collect.id, timeout=120)
    assert done.status is JobStatus.SUCCEEDED
    top = ex.get(parent.id)
    assert top.status is JobStatus.SUCCEEDED
    assert top.status_counts == {"SUCCEEDED": 50}
    root = str((tmp_path / "store").resolve())
    for i in range(50):
        assert (out / str(i)).read_text().split() == [f"{parent.id}:{i}", str(i), "1", root]
    assert (tmp_path / "chunks.count").read_text().strip() == "50"
    children = ex.list(parent_id=parent.id)
    assert [c.array_index for c in children] == list(range(50))
    assert all(c.kind is JobKind.CHILD and c.parent_id == parent.id for c in children)
    assert done.started_at >= max(c.stopped_at for c in children)  # type: ignore[operator,type-var]
    assert parent.id not in {r.id for r in ex.list(parent_id=parent.id)}


def test_failed_child_fails_parent_and_dependent_collect(ex: LocalExecutor) -> None:
    code = "import os, sys; sys.exit(1 if os.environ['AWS_BATCH_JOB_ARRAY_INDEX'] == '3' else 0)"
    parent = ex.submit_command(py(code), name="arr", kind="sweep", array_size=5)
    collect = ex.submit_command(py("print(1)"), name="c", kind="collect", depends_on=[parent.id])
    done = ex.wait(collect.id, timeout=60)
    assert done.status is JobStatus.FAILED
    assert done.status_reason == "Dependent Job failed"
    assert done.started_at is None
    top = ex.get(parent.id)
    assert top.status is JobStatus.FAILED
    assert top.status_reason == "1 of 5 child jobs failed"
    assert top.status_counts == {"SUCCEEDED": 4, "FAILED": 1}


def test_bad_submissions_are_one_line_errors(ex: LocalExecutor) -> None:
    with pytest.raises(BacktestError, match="array size"):
        ex.submit_command(["true"], name="a", kind="sweep", array_size=1)
    with pytest.raises(BacktestError, match="job name"):
        ex.submit_command(["true"], name="-bad", kind="run")
    with pytest.raises(NotFoundError, match="dependency"):
        ex.submit_command(["true"], name="a", kind="collect", depends_on=["nope"])
    with pytest.raises(BacktestError, match="kind"):
        ex.submit_command(["true"], name="a", kind="nonsense")
    with pytest.raises(NotFoundError):
        ex.get("nope")
    assert ex.list() == []


def test_follow_streams_lines_until_the_end(ex: LocalExecutor) -> None:
    code = "import time\nfor i in range(3):\n    print('line', i, flush=True); time.sleep(0.1)"
    job = ex.submit_command(py(code), name="talk", kind="run")
    assert list(ex.follow(job.id, poll=0.02)) == ["line 0", "line 1", "line 2"]


def test_list_filters(ex: LocalExecutor) -> None:
    a = ex.submit_command(["true"], name="alpha-1", kind="run")
    ex.wait(a.id, timeout=30)
    b = ex.submit_command(["false"], name="beta-1", kind="run")
    ex.wait(b.id, timeout=30)
    assert [r.id for r in ex.list(name_prefix="alpha")] == [a.id]
    assert [r.id for r in ex.list(status="FAILED")] == [b.id]
    assert [r.id for r in ex.list(status=JobStatus.SUCCEEDED)] == [a.id]
    created = ex.get(b.id).created_at
    assert [r.id for r in ex.list(since=created)] == [b.id]
    assert [r.id for r in ex.list(until=created)] == [a.id]


def test_worker_thread_survives_a_locked_job_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a real fault: another process holds SQLite's write lock when a job finishes, so the
    # worker's tick fails; the dashboard's worker thread must report it and carry on
    import jobs.localstore
    import jobs.worker

    monkeypatch.setattr(jobs.localstore, "BUSY_TIMEOUT_MS", 200)
    monkeypatch.setattr(jobs.worker, "ERROR_PAUSE_S", 0.1)
    ex = make(tmp_path / "store")
    try:
        first = ex.submit_command(py("import time; time.sleep(1)"), name="first", kind="run")
        deadline = time.monotonic() + 30
        while ex.get(first.id).status != JobStatus.RUNNING:
            assert time.monotonic() < deadline, "the first job never started"
            time.sleep(0.02)
        blocker = sqlite3.connect(ex.table.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # hold the write lock past the job's end
        deadline = time.monotonic() + 30
        while "jobs worker:" not in capsys.readouterr().err:
            assert time.monotonic() < deadline, "the worker never hit the locked database"
            time.sleep(0.1)
        blocker.execute("COMMIT")
        blocker.close()
        assert ex.wait(first.id, timeout=30).status == JobStatus.SUCCEEDED
        second = ex.submit_command(["true"], name="second", kind="run")
        assert ex.wait(second.id, timeout=30).status == JobStatus.SUCCEEDED
    finally:
        ex.close()


def test_the_job_record_carries_the_specs_user(ex: LocalExecutor, tmp_path: Path) -> None:
    # the dashboard puts the signed-in user on the spec; the job table must show that user
    spec = RunSpec("input", "prices.csv", "results", user="carol@example.com")
    record = ex.submit_run(spec)
    assert record.user == "carol@example.com"
    assert ex.submit_command(["true"], name="plain", kind="run").user == ex.user
    ex.wait(record.id, timeout=60)
