"""A real walk-forward sweep in a test's storage root: submitted through jobs.sweeps (local
executor, no worker), its array children and collect run in-process as the worker would."""

from __future__ import annotations

from pathlib import Path

from engine.spec import RunSpec
from engine.store.objects import LocalStore
from engine.sweep import wf_jobs
from engine.sweep.spec import SweepSpec
from engine.sweep.wf_windows import WalkForwardSpec
from jobs.local import LocalExecutor
from jobs.settings import Settings
from jobs.sweeps import HOLDOUT, submit_sweep_jobs


def make_walk_forward_sweep(
    root: Path,
    input_bucket: str,
    result_bucket: str,
    keys: list[str],
    sweep_id: str = "wf",
    windows: str = "200:100",
    *,
    run: bool = True,
) -> str:
    """Submit a walk-forward sma_cross sweep over ``keys``; run it unless ``run`` is False."""
    spec = SweepSpec(
        sweep_id=sweep_id,
        base=RunSpec(input_bucket, keys[0], result_bucket, "sma_cross"),
        space={"fast": "5:20:5", "slow": "30:60:30"},
        extra_keys=tuple(keys[1:]),
        split=HOLDOUT,
        top_n=1,
        walk_forward=WalkForwardSpec.parse(windows, constraints=["n_trades>=1"]),
    )
    store = LocalStore(root)
    with LocalExecutor(Settings(storage_root=str(root)), worker="none") as ex:
        sub = submit_sweep_jobs(ex, store, spec, n_children=1)
    if run:
        env = {"BACKTEST_STORAGE_ROOT": str(root)}
        for i in range(sub.plan.n_children + sub.walk_forward_children):
            code = wf_jobs.main(
                ["child", sub.spec_uri], env={**env, "AWS_BATCH_JOB_ARRAY_INDEX": str(i)}
            )
            if code != 0:
                raise RuntimeError(f"walk-forward child {i} exited {code}")
        if wf_jobs.main(["collect", sub.spec_uri], env=env) != 0:
            raise RuntimeError("walk-forward collect failed")
    return sweep_id
