"""`python -m jobs submit --strategy-source s3://RESULT/runs/<id>/strategy.py --strategy-sha256 H`
(a rerun from an old run's recorded copy) as real subprocesses: checked against the copy's own
schema, run from it and recorded as the new run's own copy; a missing copy is one line."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from engine.backtest import main as engine_main
from engine.store.objects import LocalStore
from engine.userstrat import delete_strategy, put_strategy
from tests._strategy_files import close_above_sma
from tests.jobs.test_strategy_cli import cli, env, one_line_error, root  # noqa: F401 - fixtures

NAME = "cli_rr_sma"
OLD = close_above_sma(NAME, "The old rule.")
NEW = close_above_sma(NAME, "The new rule.").replace('"max": 500', '"max": 40')
SHA = hashlib.sha256(OLD.encode()).hexdigest()
COPY = "s3://results/runs/old1/strategy.py"


def old_run(root: Path) -> None:  # noqa: F811 - the fixture's name
    """A finished run of OLD; then the stored file is replaced by NEW."""
    store = LocalStore(root)
    put_strategy(store, "input", OLD, user="ana")
    args = ["input", "prices.csv", "results", "--strategy", NAME, "--param", "window=60"]
    assert engine_main([*args, "--run-id", "old1"], {"BACKTEST_STORAGE_ROOT": str(root)}) == 0
    put_strategy(store, "input", NEW, user="bo", overwrite=True)


def submit(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:  # noqa: F811
    return cli("submit", "input", "prices.csv", "results", "--strategy", NAME,
               "--param", "window=60", *extra, env=env)  # fmt: skip


def test_a_rerun_from_the_recorded_copy_runs_and_records_those_bytes(
    env: dict[str, str],  # noqa: F811
    root: Path,  # noqa: F811
) -> None:
    old_run(root)
    # the current file's schema refuses window=60 (max 40); the copy's allows it
    assert "int 2..40" in one_line_error(submit(env))
    sub = submit(env, "--strategy-source", COPY, "--strategy-sha256", SHA, "--run-id", "new1")
    assert sub.returncode == 0, sub.stderr
    job_id = sub.stdout.strip().splitlines()[-1]
    waited = cli("wait", job_id, "--timeout", "150", env=env)
    assert waited.returncode == 0, waited.stdout + cli("logs", job_id, env=env).stdout
    spec = json.loads((root / "results" / "runs" / "new1" / "spec.json").read_text())
    assert spec["strategy_sha256"] == SHA
    assert spec["strategy_source"] == "s3://results/runs/new1/strategy.py"
    assert spec["provenance"]["strategy"]["loaded_from"] == COPY
    assert (root / "results" / "runs" / "new1" / "strategy.py").read_text() == OLD


def test_a_missing_or_other_copy_is_one_line_and_nothing_is_submitted(
    env: dict[str, str],  # noqa: F811
    root: Path,  # noqa: F811
) -> None:
    old_run(root)
    (root / "results" / "runs" / "old1" / "strategy.py").write_text(NEW)  # edited by hand
    other = one_line_error(submit(env, "--strategy-source", COPY, "--strategy-sha256", SHA))
    assert f"{COPY} does not have the sha256 {SHA[:12]} it was pinned to" in other
    (root / "results" / "runs" / "old1" / "strategy.py").unlink()
    missing = one_line_error(submit(env, "--strategy-source", COPY, "--strategy-sha256", SHA))
    assert missing.strip() == (
        f"error: the strategy copy {COPY} is missing; leave out --strategy-source and "
        f"--strategy-sha256 to run strategies/{NAME}.py as it is now"
    )
    delete_strategy(LocalStore(root), "input", NAME, user="bo")
    neither = one_line_error(submit(env, "--strategy-source", COPY, "--strategy-sha256", SHA))
    assert neither.strip().endswith(
        f"strategies/{NAME}.py is not stored either: add it again with python -m jobs strategy "
        "add FILE"
    )
    assert cli("ls", env=env).stdout.strip() == ""  # nothing was submitted
