"""Fargate Spot and Fargate compute environments and the job queue preferring Spot.

No ``serviceRole`` is passed: Batch then uses (or creates) its service-linked role
AWSServiceRoleForBatch; passing a role IAM has not yet made visible everywhere fails. A resource
that goes INVALID stops `up` at once with Batch's statusReason, and a later `up` plans to re-send
its settings rather than take it as fine; `down` disables and deletes INVALID resources too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.errors import InfraError
from infra.actions import Action, Waiter, noop
from infra.clients import Clients
from infra.config import StackConfig
from infra.network import Network, security_group_ids

QUEUE_PRIORITY = 1
DISABLED_OK = ("VALID", "INVALID")  # a disabled INVALID resource can be deleted as well


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


def _resources(
    cfg: StackConfig, net: Network, groups: tuple[str, ...], kind: str | None = None
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "maxvCpus": cfg.max_vcpus,
        "subnets": list(net.subnets),
        "securityGroupIds": list(groups),
    }
    if kind:
        res["type"] = kind
    return res


def _env_diff(env: dict[str, Any], cfg: StackConfig, net: Network) -> list[str]:
    res = env.get("computeResources", {})
    parts = []
    if env.get("status") == "INVALID":
        parts.append(f"INVALID ({_reason(env)}): re-send its settings")
    if env.get("state") != "ENABLED":
        parts.append("state ENABLED")
    if res.get("maxvCpus") != cfg.max_vcpus:
        parts.append(f"maxvCpus {res.get('maxvCpus')} -> {cfg.max_vcpus}")
    if sorted(res.get("subnets", [])) != sorted(net.subnets):
        parts.append("subnets")
    if not net.security_groups or sorted(res.get("securityGroupIds", [])) != sorted(
        net.security_groups
    ):
        parts.append("security groups")
    return parts


def _reason(resource: dict[str, Any]) -> str:
    return str(resource.get("statusReason") or "no reason given")


def settled(
    describe: Callable[[], dict[str, Any] | None], what: str, want: Callable[[dict[str, Any]], bool]
) -> Callable[[], bool]:
    """A waiter check: true once ``want(resource)``; InfraError at once when it is INVALID."""

    def check() -> bool:
        found = describe()
        if found is None:
            return False
        if want(found):
            return True
        if found.get("status") == "INVALID":
            raise InfraError(
                f"{what} is INVALID: {_reason(found)}; fix the cause, then run "
                "python -m infra up again (or python -m infra down)"
            )
        return False

    return check


def _is_valid(batch: Any, name: str) -> Callable[[], bool]:
    return settled(
        lambda: describe_environment(batch, name),
        f"compute environment {name}",
        lambda env: env.get("status") == "VALID",
    )


def _queue_valid(batch: Any, name: str) -> Callable[[], bool]:
    return settled(
        lambda: describe_queue(batch, name),
        f"job queue {name}",
        lambda queue: queue.get("status") == "VALID",
    )


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
                    computeResources=_resources(cfg, net, security_group_ids(clients.ec2, net), k),
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
            groups = security_group_ids(clients.ec2, net)
            batch.update_compute_environment(
                computeEnvironment=n, state="ENABLED", computeResources=_resources(cfg, net, groups)
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


def plan_queue(clients: Clients, cfg: StackConfig, waiter: Waiter) -> list[Action]:
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
            waiter.until(
                f"job queue {cfg.job_queue} to become VALID", _queue_valid(batch, cfg.job_queue)
            )

        return [Action("create", "job queue", cfg.job_queue, "Spot first, then on-demand", create)]
    parts = []
    if queue.get("status") == "INVALID":
        parts.append(f"INVALID ({_reason(queue)}): re-send its settings")
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
        waiter.until(
            f"job queue {cfg.job_queue} to become VALID", _queue_valid(batch, cfg.job_queue)
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
        if env.get("status") == "INVALID":
            state += f" ({_reason(env)})"
        rows.append(("compute env", name, state))
    queue = describe_queue(clients.batch, cfg.job_queue)
    if queue is None:
        rows.append(("job queue", cfg.job_queue, "absent"))
    else:
        order = " > ".join(_order_names(queue.get("computeEnvironmentOrder", [])))
        state = f"{queue['state']}/{queue['status']}, {order}"
        if queue.get("status") == "INVALID":
            state += f" ({_reason(queue)})"
        rows.append(("job queue", cfg.job_queue, state))
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
                return q is None or (q["state"] == "DISABLED" and q["status"] in DISABLED_OK)

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
                    return env is None or (
                        env["state"] == "DISABLED" and env["status"] in DISABLED_OK
                    )

                waiter.until(f"compute environment {name} to be disabled", disabled)
                batch.delete_compute_environment(computeEnvironment=name)
            for name in present:
                gone = lambda n=name: describe_environment(batch, n) is None  # noqa: E731
                waiter.until(f"compute environment {name} to be deleted", gone)

        why = "disable, wait, delete: " + ", ".join(present)
        actions.append(Action("delete", "compute envs", cfg.prefix, why, drop_envs))
    return actions
