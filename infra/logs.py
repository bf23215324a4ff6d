"""The CloudWatch log group the job definitions send container output to."""

from __future__ import annotations

from typing import Any

from infra.actions import Action, noop
from infra.clients import Clients
from infra.config import StackConfig


def describe(logs: Any, name: str) -> dict[str, Any] | None:
    """The log group, or None."""
    found = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return next((dict(g) for g in found if g["logGroupName"] == name), None)


def plan(clients: Clients, cfg: StackConfig) -> list[Action]:
    """Create the group or set its retention."""
    logs = clients.logs
    name, days = cfg.log_group, cfg.log_retention_days

    def retention() -> None:
        logs.put_retention_policy(logGroupName=name, retentionInDays=days)

    group = describe(logs, name)
    if group is None:

        def create() -> None:
            logs.create_log_group(logGroupName=name)
            retention()

        return [Action("create", "log group", name, f"retention {days} days", create)]
    if group.get("retentionInDays") != days:
        why = f"retention {group.get('retentionInDays', 'never expire')} -> {days} days"
        return [Action("update", "log group", name, why, retention)]
    return [noop("log group", name)]


def status(clients: Clients, cfg: StackConfig) -> list[tuple[str, str, str]]:
    """(kind, name, state) of the log group."""
    group = describe(clients.logs, cfg.log_group)
    if group is None:
        return [("log group", cfg.log_group, "absent")]
    days = group.get("retentionInDays", "never expire")
    return [("log group", cfg.log_group, f"exists, retention {days} days")]


def teardown(clients: Clients, cfg: StackConfig) -> list[Action]:
    """Delete the log group (job logs go with it)."""
    logs = clients.logs
    if describe(logs, cfg.log_group) is None:
        return []

    def run() -> None:
        logs.delete_log_group(logGroupName=cfg.log_group)

    return [Action("delete", "log group", cfg.log_group, "job logs go with it", run)]
