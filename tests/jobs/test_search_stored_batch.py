"""A TPE search of a stored strategy file on AWS Batch (the moto server, S3 + Batch): the submit
sends one first step job (``search-step URI --round -1``, no dependency, the step's settings in
its environment); run as its container with only that environment it loads the pinned copy
from S3, asks round 0 and submits round 0's array and step, and so on to the collect."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest

from engine.sim.synthetic import random_walk
from engine.spec import RunSpec
from engine.sweep.results import read_sweep
from engine.sweep.spec import SweepSpec
from engine.userstrat.library import put_strategy
from infra.config import StackConfig
from jobs.factory import make_executor, make_store
from jobs.search_jobs import search_progress, submit_search
from jobs.search_records import round_jobs
from jobs.settings import Settings
from tests._search_stored_files import NAME, SMA_PAIR
from tests.jobs.test_search_batch import ACCOUNT, REGION, container, make_stack, sent


@pytest.mark.slow
def test_on_batch_the_first_step_container_asks_round_0_from_the_pinned_copy(
    aws_env: str, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    inp, res = f"stored-in-{suffix}", f"stored-res-{suffix}"
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws_env)
    for bucket in (inp, res):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=inp, Key="prices.csv", Body=random_walk(300, seed=9).to_csv().encode())
    batch = boto3.client("batch", region_name=REGION, endpoint_url=aws_env)
    cfg = StackConfig(prefix=f"t{suffix}", account=ACCOUNT, region=REGION)
    make_stack(batch, boto3.client("iam", region_name=REGION, endpoint_url=aws_env), cfg)
    settings = Settings(
        backend="aws", user="alice", job_queue=cfg.job_queue,
        job_definition=cfg.job_definition("run"),
        sweep_job_definition=cfg.job_definition("sweep"),
        collect_job_definition=cfg.job_definition("collect"),
    )  # fmt: skip
    ex, store = make_executor(settings), make_store(settings)
    put_strategy(store, inp, SMA_PAIR, user="alice")
    base = RunSpec(inp, "prices.csv", res, NAME)
    spec = SweepSpec("st", base, {"fast": "2:30:1", "slow": "10:120:5"}, mode="tpe", n=8,
                     seed=4, search={"round_size": 4}, top_n=0)  # fmt: skip
    sub = submit_search(ex, store, spec, cost_s=0.2)  # two children of 2 trials per round
    uri = f"s3://{res}/sweeps/st/spec.json"
    assert sub.array is None and sub.spec_uri == uri
    assert store.get_bytes(res, "sweeps/st/strategy.py") == SMA_PAIR.encode()
    (first,) = round_jobs(store, res, "st", 0)
    assert first["ask"] == sub.step.id
    ask = sent(batch, sub.step.id)
    assert ask["command"] == ["python", "-m", "jobs", "search-step", uri, "--round", "-1"]
    assert ask["dependsOn"] == [] and ask["size"] is None
    env = ask["env"]
    assert env["AWS_ENDPOINT_URL_S3"] == aws_env  # an endpoint override travels; no keys
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env)
    out = container(ask["command"], env, tmp_path)
    assert out.startswith("told nothing yet; asked round 0 (trials 0..3): array job ")
    for r in range(2):  # each round's jobs come from the previous step's container
        entry = round_jobs(store, res, "st", r)[-1]
        array, step = (sent(batch, entry[role]) for role in ("array", "step"))
        assert step["command"] == ["python", "-m", "jobs", "search-step", uri, "--round", str(r)]
        assert step["dependsOn"] == [{"jobId": entry["array"]}]
        assert array["command"][-2:] == ["--round", str(r)] and array["size"] == 2
        for index in range(array["size"]):
            container(array["command"], {**env, **array["env"]}, tmp_path, index)
        out = container(step["command"], env, tmp_path)
        assert out.startswith("told 4 trials" if r == 0 else "all 2 rounds told")
    collect = sent(batch, round_jobs(store, res, "st", 1)[-1]["collect"])
    container(collect["command"], env, tmp_path)
    progress = search_progress(store, res, "st", ex)
    assert (progress.state, progress.trials_evaluated, progress.rounds_asked) == ("done", 8, 2)
    summary = read_sweep(store, res, "st").summary
    assert sorted(summary["combo_id"]) == list(range(8))
    assert (summary["fast"] < summary["slow"]).all()
