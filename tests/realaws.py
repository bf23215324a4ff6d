"""Make moto answer like real AWS where it matters: a small layer over moto (tests only).

Keep additions small and additive (other helpers extend this module).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# --- AWS Batch's service-linked role (H8) -----------------------------------------------------

BATCH_SLR_PATH = "/aws-service-role/batch.amazonaws.com/"


def _batch_service_linked_role(iam: Any) -> Any:
    for role in iam.get_roles():
        if role.path == BATCH_SLR_PATH:
            return role
    return iam.create_service_linked_role("batch.amazonaws.com", "", "")


def batch_uses_its_service_linked_role(monkeypatch: Any) -> None:
    """CreateComputeEnvironment without ``serviceRole``: real Batch uses AWSServiceRoleForBatch
    (creating it when the account has none); moto answers "ServiceRole is required". Patches
    moto's Batch backend in this process, so in-process mock_aws and the threaded moto server
    (and subprocesses talking to it) answer alike. ``monkeypatch`` undoes it after the test."""
    from moto.batch.models import BatchBackend

    original = BatchBackend.create_compute_environment

    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("service_role"):
            kwargs["service_role"] = _batch_service_linked_role(self.iam_backend).arn
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BatchBackend, "create_compute_environment", create)


class InvalidBatchResources:
    """Batch resources that went INVALID (a subnet deleted, a role without permissions, ...):
    DescribeComputeEnvironments / DescribeJobQueues answer ``status: INVALID`` with a
    ``statusReason`` for the named ones, whatever their state, until they are deleted; moto
    makes everything VALID at once. ``names`` may be changed while the test runs."""

    def __init__(self, client: Any, names: Sequence[str], reason: str) -> None:
        self.names = set(names)
        self.reason = reason
        self.answers = 0
        events = client.meta.events
        events.register("after-call.batch.DescribeComputeEnvironments", self._envs)
        events.register("after-call.batch.DescribeJobQueues", self._queues)

    def _mark(self, items: list[dict[str, Any]], name_key: str) -> None:
        for item in items:
            gone = item.get("status") in ("DELETED", "DELETING")
            if item.get(name_key) in self.names and not gone:
                item["status"] = "INVALID"
                item["statusReason"] = self.reason
                self.answers += 1

    def _envs(self, parsed: dict[str, Any], **_: Any) -> None:
        self._mark(parsed.get("computeEnvironments", []), "computeEnvironmentName")

    def _queues(self, parsed: dict[str, Any], **_: Any) -> None:
        self._mark(parsed.get("jobQueues", []), "jobQueueName")
