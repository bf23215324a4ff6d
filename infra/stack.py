"""The whole stack: plan (read-only), apply, status and teardown, in dependency order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from infra import batch, buckets, ecr, iam, jobdef_sync, jobdefs, logs, network, remote_build
from infra.actions import Action, Waiter, apply
from infra.clients import Clients
from infra.config import JOB_KINDS, StackConfig
from infra.network import discover
from jobs.settings import Settings


def plan(clients: Clients, cfg: StackConfig, waiter: Waiter) -> list[Action]:
    """Every action `up` would take, in order. Only Describe/List/Get/Head calls are made."""
    net = discover(clients.ec2, cfg)
    image = ecr.image_reference(clients, cfg)
    return [
        *buckets.plan(clients, cfg),
        *ecr.plan(clients, cfg),
        *logs.plan(clients, cfg),
        *iam.plan(clients, cfg),
        *network.plan_security_group(clients, cfg, net),
        *batch.plan_environments(clients, cfg, net, waiter),
        *batch.plan_queue(clients, cfg, waiter),
        *jobdef_sync.plan(clients, cfg, image, net),
    ]


def up(clients: Clients, cfg: StackConfig, waiter: Waiter, echo: Callable[[str], None]) -> int:
    """Plan, then apply the changing actions; return how many ran."""
    return apply(plan(clients, cfg, waiter), echo)


def outputs(cfg: StackConfig) -> dict[str, str]:
    """The settings (jobs/settings.py keys) the dashboard and the jobs CLI need."""
    known = {f.name for f in fields(Settings)}
    values = {
        "backend": "aws",
        "region": cfg.region,
        "input_bucket": cfg.input_bucket,
        "result_bucket": cfg.result_bucket,
        "job_queue": cfg.job_queue,
        "job_definition": cfg.job_definition("run"),
        "sweep_job_definition": cfg.job_definition("sweep"),
        "collect_job_definition": cfg.job_definition("collect"),
        "log_group": cfg.log_group,
    }
    return {k: v for k, v in values.items() if k in known}  # the file may hold known keys only


def status(clients: Clients, cfg: StackConfig) -> list[tuple[str, str, str]]:
    """(kind, name, state) for every resource."""
    return [
        *buckets.status(clients, cfg),
        *ecr.status(clients, cfg),
        *logs.status(clients, cfg),
        *iam.status(clients, cfg),
        *network.status(clients, cfg),
        *batch.status(clients, cfg),
        *jobdefs.status(clients, cfg),
        *remote_build.status(clients, cfg),
    ]


def teardown(clients: Clients, cfg: StackConfig, waiter: Waiter, delete_data: bool) -> list[Action]:
    """Delete actions in the order AWS requires: queue before environments, and so on."""
    return [
        *batch.teardown(clients, cfg, waiter),
        *network.teardown(clients, cfg, waiter),
        *jobdefs.teardown(clients, cfg),
        *iam.teardown(clients, cfg),
        *remote_build.teardown(clients, cfg),
        *logs.teardown(clients, cfg),
        *ecr.teardown(clients, cfg),
        *buckets.teardown(clients, cfg, delete_data),
    ]


def created_arns(cfg: StackConfig) -> dict[str, str]:
    """ARNs of the resources the dashboard touches, derived from the names `up` uses."""
    arns = {
        "queue": cfg.arn("batch", f"job-queue/{cfg.job_queue}"),
        "input_bucket": cfg.bucket_arn(cfg.input_bucket),
        "result_bucket": cfg.bucket_arn(cfg.result_bucket),
        "log_group": cfg.arn("logs", f"log-group:{cfg.log_group}"),
    }
    for kind in JOB_KINDS:
        arns[f"job_definition_{kind}"] = cfg.arn(
            "batch", f"job-definition/{cfg.job_definition(kind)}"
        )
    return arns
