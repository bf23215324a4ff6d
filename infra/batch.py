"""Fargate Spot and Fargate compute environments and the job queue preferring Spot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.actions import Action, Waiter, noop
from infra.clients import Clients
from infra.config import StackConfig
from infra.iam import batch_service_role
from infra.network import Network

QUEUE_PRIORITY = 1


def environments(cfg: StackConfig) -> list[tuple[str, str]]:
    """(name, Fargate type) in queue order: Spot first, then on-demand."""
    return [(cfg.spot_environment, "FARGATE_SPOT"), (cfg.ondemand_environment, "FARGATE")]


def describe_environment(batch: Any, name: str) -> dict[str, Any] | None:
    """The compute environment unless absent or already deleted."""
    found = batch.describe_compute_environments(computeEnvironments=[name])
    envs = [e for e in found["computeEnvironments"] if e.get("status") != "DELETED"]
    return dict(envs[0]) if envs else None


def describe_queue(batch: Any, name: str) -> dict[str, Any] | None:
    """The job queue unless absent or already deleted."""
    found = batch.describe_job_queues(jobQueues=[name])["jobQueues"]
    queues = [q for q in found if q.get("status") != "DELETED"]
    return dict(queues[0]) if queues else None


def _resources(cfg: StackConfig, net: Network, kind: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "maxvCpus": cfg.max_vcpus,
        "subnets": list(net.subnets),
        "securityGroupIds": list(net.security_groups),
    }
    if kind:
        res["type"] = kind
    return res


def _env_diff(env: dict[str, Any], cfg: StackConfig, net: Network) -> list[str]:
    res = env.get("computeResources", {})
    parts = []
    if env.get("state") != "ENABLED":
        parts.append("state ENABLED")
    if res.get("maxvCpus") != cfg.max_vcpus:
        parts.append(f"maxvCpus {res.get('maxvCpus')} -> {cfg.max_vcpus}")
    if sorted(res.get("subnets", [])) != sorted(net.subnets):
        parts.append("subnets")
    if sorted(res.get("securityGroupIds", [])) != sorted(net.security_groups):
        parts.append("security groups")
    return parts


def _is_valid(batch: Any, name: str) -> Callable[[], bool]:
    def check() -> bool:
        env = describe_environment(batch, name)
        return env is not None and env.get("status") == "VALID"

    return check


def plan_environments(
    clients: Clients, cfg: StackConfig, net: Network, waiter: Waiter
) -> list[Action]:
    """Create or update both compute environments."""
    batch = clients.batch
    actions = []
    for name, kind in environments(cfg):
        env = describe_environment(batch, name)
        if env is None:

            def create(n: str = name, k: str = kind) -> None:
                batch.create_compute_environment(
                    computeEnvironmentName=n,
                    type="MANAGED",
                    state="ENABLED",
                    computeResources=_resources(cfg, net, k),
                    serviceRole=batch_service_role(clients.iam),
                    tags={"project": "batch-backtest", "prefix": cfg.prefix},
                )
                waiter.until(f"compute environment {n} to become VALID", _is_valid(batch, n))

            why = f"{kind}, max {cfg.max_vcpus} vCPUs, {net.source}"
            actions.append(Action("create", "compute env", name, why, create))
            continue
        parts = _env_diff(env, cfg, net)
        if not parts:
            actions.append(noop("compute env", name, f"{kind}, {env.get('status')}"))
            continue

        def update(n: str = name) -> None:
            batch.update_compute_environment(
                computeEnvironment=n, state="ENABLED", computeResources=_resources(cfg, net)
            )
            waiter.until(f"compute environment {n} to become VALID", _is_valid(batch, n))

        actions.append(Action("update", "compute env", name, "set " + ", ".join(parts), update))
    return actions


def queue_order(cfg: StackConfig) -> list[dict[str, Any]]:
    """computeEnvironmentOrder: Spot first (order 1), on-demand second."""
    return [
        {"order": i + 1, "computeEnvironment": cfg.arn("batch", f"compute-environment/{name}")}
        for i, (name, _) in enumerate(environments(cfg))
    ]


def _order_names(order: list[dict[str, Any]]) -> list[str]:
    ranked = sorted(order, key=lambda item: int(item["order"]))
    return [str(item["computeEnvironment"]).rsplit("/", 1)[-1] for item in ranked]


def plan_queue(clients: Clients, cfg: StackConfig) -> list[Action]:
    """Create the job queue or fix its order, priority or state."""
    batch = clients.batch
    queue = describe_queue(batch, cfg.job_queue)
    order = queue_order(cfg)
    if queue is None:

        def create() -> None:
            batch.create_job_queue(
                jobQueueName=cfg.job_queue,
                state="ENABLED",
                priority=QUEUE_PRIORITY,
                computeEnvironmentOrder=order,
                tags={"project": "batch-backtest", "prefix": cfg.prefix},
            )

        return [Action("create", "job queue", cfg.job_queue, "Spot first, then on-demand", create)]
    parts = []
    if _order_names(queue.get("computeEnvironmentOrder", [])) != _order_names(order):
        parts.append("compute environment order")
    if queue.get("state") != "ENABLED":
        parts.append("state ENABLED")
    if int(queue.get("priority", 0)) != QUEUE_PRIORITY:
        parts.append("priority")
    if not parts:
        return [noop("job queue", cfg.job_queue, str(queue.get("state")))]

    def update() -> None:
        batch.update_job_queue(
            jobQueue=cfg.job_queue,
            state="ENABLED",
            priority=QUEUE_PRIORITY,
            computeEnvironmentOrder=order,
        )

    return [Action("update", "job queue", cfg.job_queue, "set " + ", ".join(parts), update)]


def status(clients: Clients, cfg: StackConfig) -> list[tuple[str, str, str]]:
    """(kind, name, state) for the environments and the queue."""
    rows = []
    for name, kind in environments(cfg):
        env = describe_environment(clients.batch, name)
        if env is None:
            rows.append(("compute env", name, "absent"))
            continue
        res = env.get("computeResources", {})
        state = f"{env.get('state')}/{env.get('status')}, {kind}, max {res.get('maxvCpus')} vCPUs"
        rows.append(("compute env", name, state))
    queue = describe_queue(clients.batch, cfg.job_queue)
    if queue is None:
        rows.append(("job queue", cfg.job_queue, "absent"))
    else:
        order = " > ".join(_order_names(queue.get("computeEnvironmentOrder", [])))
        rows.append(("job queue", cfg.job_queue, f"{queue['state']}/{queue['status']}, {order}"))
    return rows


def teardown(clients: Clients, cfg: StackConfig, waiter: Waiter) -> list[Action]:
    """Disable, wait, delete the queue; then the same for each compute environment."""
    batch = clients.batch
    actions = []
    if describe_queue(batch, cfg.job_queue) is not None:

        def drop_queue() -> None:
            name = cfg.job_queue
            batch.update_job_queue(jobQueue=name, state="DISABLED")

            def disabled() -> bool:
                q = describe_queue(batch, name)
                return q is None or (q["state"] == "DISABLED" and q["status"] == "VALID")

            waiter.until(f"job queue {name} to be disabled", disabled)
            batch.delete_job_queue(jobQueue=name)
            waiter.until(f"job queue {name} to be deleted", lambda: not describe_queue(batch, name))

        actions.append(
            Action("delete", "job queue", cfg.job_queue, "disable, wait, delete", drop_queue)
        )
    present = [n for n, _ in environments(cfg) if describe_environment(batch, n) is not None]
    if present:

        def drop_envs() -> None:
            for name in present:
                batch.update_compute_environment(computeEnvironment=name, state="DISABLED")
            for name in present:

                def disabled(n: str = name) -> bool:
                    env = describe_environment(batch, n)
                    return env is None or (env["state"] == "DISABLED" and env["status"] == "VALID")

                waiter.until(f"compute environment {name} to be disabled", disabled)
                batch.delete_compute_environment(computeEnvironment=name)
            for name in present:
                gone = lambda n=name: describe_environment(batch, n) is None  # noqa: E731
                waiter.until(f"compute environment {name} to be deleted", gone)

        why = "disable, wait, delete: " + ", ".join(present)
        actions.append(Action("delete", "compute envs", cfg.prefix, why, drop_envs))
    return actions
