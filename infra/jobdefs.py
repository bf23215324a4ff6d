"""Job definitions for single runs, sweep children and sweep collect (Fargate).

The desired definitions, status and teardown; the comparison with the latest ACTIVE revision
(register only when one differs) is :mod:`infra.jobdef_sync`.
"""

from __future__ import annotations

from typing import Any

from infra.actions import Action
from infra.clients import Clients
from infra.config import JOB_KINDS, StackConfig
from infra.network import Network
from jobs.retry import retry_strategy

ENGINE = ["python", "-m", "engine.backtest"]
COLLECT = ["python", "-m", "engine.sweep.collect"]
# DESIGN.md's engine CLI, the same commands the jobs layer submits (jobs/sweeps.py). Ref::
# placeholders are filled from the job's parameters, each with a default below, so a console or
# `aws batch submit-job --parameters ...` submit runs them as they are; the jobs layer overrides
# the command at submit time (containerOverrides.command).
COMMANDS = {
    "run": [*ENGINE, "Ref::source_bucket", "Ref::source_key", "Ref::result_bucket"],
    "sweep": [*ENGINE, "--sweep", "Ref::spec_uri"],
    "collect": [*COLLECT, "Ref::spec_uri"],
}
DEFAULT_SOURCE_KEY = "prices.csv"
SPEC_URI_PLACEHOLDER = "s3://{bucket}/sweeps/SWEEP_ID/spec.json"


def parameters(cfg: StackConfig, kind: str) -> dict[str, str]:
    """Defaults for every Ref:: placeholder of ``kind``'s command."""
    if kind == "run":
        return {
            "source_bucket": cfg.input_bucket,
            "source_key": DEFAULT_SOURCE_KEY,
            "result_bucket": cfg.result_bucket,
        }
    return {"spec_uri": SPEC_URI_PLACEHOLDER.format(bucket=cfg.result_bucket)}


def desired(cfg: StackConfig, kind: str, image: str, net: Network) -> dict[str, Any]:
    """The register_job_definition arguments for one kind."""
    size = cfg.sizes[kind]
    params = parameters(cfg, kind)
    return {
        "jobDefinitionName": cfg.job_definition(kind),
        "type": "container",
        "platformCapabilities": ["FARGATE"],
        "parameters": params,
        "timeout": {"attemptDurationSeconds": cfg.job_timeout},
        # the same rules as every SubmitJob sends (jobs/retry.py): Spot and start-up failures retry
        "retryStrategy": retry_strategy(cfg.attempts),
        "propagateTags": True,
        "tags": {"project": "batch-backtest", "prefix": cfg.prefix},
        "containerProperties": {
            "image": image,
            "command": COMMANDS[kind],
            "jobRoleArn": cfg.role_arn(cfg.job_role),
            "executionRoleArn": cfg.role_arn(cfg.execution_role),
            "resourceRequirements": [
                {"type": "VCPU", "value": size.vcpu_text},
                {"type": "MEMORY", "value": str(size.memory)},
            ],
            "environment": [
                {"name": "AWS_DEFAULT_REGION", "value": cfg.region},
                {"name": "BACKTEST_JOB_KIND", "value": kind},
            ],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": cfg.log_group, "awslogs-region": cfg.region},
            },
            "networkConfiguration": {"assignPublicIp": net.assign_public_ip},
            "fargatePlatformConfiguration": {"platformVersion": "LATEST"},
        },
    }


def latest_active(batch: Any, name: str) -> dict[str, Any] | None:
    """The highest ACTIVE revision of a job definition, or None."""
    found: list[dict[str, Any]] = []
    paginator = batch.get_paginator("describe_job_definitions")
    for page in paginator.paginate(jobDefinitionName=name, status="ACTIVE"):
        found += [d for d in page["jobDefinitions"] if d.get("status") == "ACTIVE"]
    return max(found, key=lambda d: int(d["revision"])) if found else None


def status(clients: Clients, cfg: StackConfig) -> list[tuple[str, str, str]]:
    """(kind, name, state) of each job definition's latest ACTIVE revision."""
    rows = []
    for kind in JOB_KINDS:
        name = cfg.job_definition(kind)
        have = latest_active(clients.batch, name)
        if have is None:
            rows.append(("job definition", name, "absent"))
            continue
        props = have.get("containerProperties", {})
        req = {r["type"]: r["value"] for r in props.get("resourceRequirements", [])}
        state = (
            f"revision {have['revision']} ACTIVE, {req.get('VCPU')} vCPU / "
            f"{req.get('MEMORY')} MiB, image {props.get('image')}"
        )
        rows.append(("job definition", name, state))
    return rows


def teardown(clients: Clients, cfg: StackConfig) -> list[Action]:
    """Deregister every ACTIVE revision of the three job definitions."""
    batch = clients.batch
    actions = []
    for kind in JOB_KINDS:
        name = cfg.job_definition(kind)
        arns: list[str] = []
        for page in batch.get_paginator("describe_job_definitions").paginate(
            jobDefinitionName=name, status="ACTIVE"
        ):
            arns += [
                d["jobDefinitionArn"] for d in page["jobDefinitions"] if d["status"] == "ACTIVE"
            ]
        if not arns:
            continue

        def run(items: list[str] = arns) -> None:
            for arn in items:
                batch.deregister_job_definition(jobDefinition=arn)

        actions.append(
            Action("delete", "job definition", name, f"deregister {len(arns)} revisions", run)
        )
    return actions
