"""The least-privilege IAM policy for the dashboard's user or role, for one created stack."""

from __future__ import annotations

from typing import Any

from engine.errors import BacktestError
from infra import batch, buckets, jobdefs, logs
from infra.clients import Clients
from infra.config import JOB_KINDS, StackConfig
from jobs.batch import TAG_PREFIX

QUEUE_TAG = f"{TAG_PREFIX}queue"  # jobs/batch.py tags every job it submits with its queue


def dashboard_policy(cfg: StackConfig) -> dict[str, Any]:
    """Submit to this queue with these job definitions, watch and stop its jobs, use the buckets.

    - SubmitJob is authorized against the queue, the job definition revision and the new job;
      its tags (tag-on-create) also need TagResource on the new job and on the revision, allowed
      only for requests that carry this stack's ``backtest:queue`` tag.
    - CancelJob/TerminateJob only for jobs tagged with this stack's queue (aws:ResourceTag), not
      for every job in the account.
    - DescribeJobs and ListJobs do not support resource-level permissions, so they need "*".
    - PutObject on the result bucket is limited to sweeps/: the submitter writes the sweep spec
      there before the array job starts.
    """
    queue = cfg.arn("batch", f"job-queue/{cfg.job_queue}")
    ours = {"StringEquals": {f"aws:RequestTag/{QUEUE_TAG}": [cfg.job_queue, queue]}}
    tagged = {"StringEquals": {f"aws:ResourceTag/{QUEUE_TAG}": [cfg.job_queue, queue]}}
    defs, revisions = [], []
    for kind in JOB_KINDS:
        base = cfg.arn("batch", f"job-definition/{cfg.job_definition(kind)}")
        defs += [base, f"{base}:*"]
        revisions.append(f"{base}:*")
    inp, res = cfg.bucket_arn(cfg.input_bucket), cfg.bucket_arn(cfg.result_bucket)
    jobs = cfg.arn("batch", "job/*")  # SubmitJob also authorizes against the new job's ARN
    group = cfg.arn("logs", f"log-group:{cfg.log_group}:log-stream:*")
    statements: list[dict[str, Any]] = [
        {"Sid": "SubmitJobs", "Action": ["batch:SubmitJob"], "Resource": [queue, *defs, jobs]},
        {
            "Sid": "TagJobsOnSubmit",
            "Action": ["batch:TagResource"],
            "Resource": [jobs, *revisions],
            "Condition": ours,
        },
        {
            "Sid": "WatchJobs",
            "Action": ["batch:DescribeJobs", "batch:ListJobs"],
            "Resource": "*",
        },
        {
            "Sid": "StopThisStacksJobs",
            "Action": ["batch:CancelJob", "batch:TerminateJob"],
            "Resource": jobs,
            "Condition": tagged,
        },
        {"Sid": "ListBuckets", "Action": ["s3:ListBucket"], "Resource": [inp, res]},
        {"Sid": "ReadObjects", "Action": ["s3:GetObject"], "Resource": [f"{inp}/*", f"{res}/*"]},
        {
            "Sid": "UploadInputs",
            "Action": ["s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{inp}/*",
        },
        {"Sid": "WriteSweepSpecs", "Action": ["s3:PutObject"], "Resource": f"{res}/sweeps/*"},
        {"Sid": "ReadJobLogs", "Action": ["logs:GetLogEvents"], "Resource": group},
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", **s} for s in statements],
    }


def check_created(clients: Clients, cfg: StackConfig) -> None:
    """Refuse to print a policy for resources that do not exist yet."""
    missing = []
    if batch.describe_queue(clients.batch, cfg.job_queue) is None:
        missing.append(f"job queue {cfg.job_queue}")
    for kind in JOB_KINDS:
        if jobdefs.latest_active(clients.batch, cfg.job_definition(kind)) is None:
            missing.append(f"job definition {cfg.job_definition(kind)}")
    for bucket in (cfg.input_bucket, cfg.result_bucket):
        if not buckets.bucket_exists(clients.s3, bucket):
            missing.append(f"bucket {bucket}")
    if logs.describe(clients.logs, cfg.log_group) is None:
        missing.append(f"log group {cfg.log_group}")
    if missing:
        raise BacktestError(
            f"stack {cfg.prefix!r} in {cfg.region} is incomplete (missing {', '.join(missing)}); "
            "run python -m infra up first"
        )
