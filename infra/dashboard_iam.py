"""The hosted dashboard's two roles (ECS tasks), inline least-privilege policies.

- ``<prefix>-dashboard-task``: what the app does at run time: exactly the dashboard policy
  ``python -m infra policy`` prints (:func:`infra.policy.dashboard_policy`).
- ``<prefix>-dashboard-execution``: what ECS needs to start it: pull from the dashboard's
  image repository, write its log group.
Reuses :mod:`infra.iam`'s trust policy and comparison; not yet wired into ``python -m infra up``.
"""

from __future__ import annotations

import json
from typing import Any

from infra import iam
from infra.actions import Action, noop
from infra.config import StackConfig
from infra.policy import dashboard_policy


def task_role(cfg: StackConfig) -> str:
    return f"{cfg.prefix}-dashboard-task"


def execution_role(cfg: StackConfig) -> str:
    return f"{cfg.prefix}-dashboard-execution"


def execution_policy(cfg: StackConfig, repository_arn: str, log_group: str) -> dict[str, Any]:
    """ECR pull of one repository and the dashboard's log streams."""
    logs = f"arn:aws:logs:{cfg.region}:{cfg.account}:log-group:{log_group}:*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": repository_arn,
            },
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": logs,
            },
        ],
    }


def roles(cfg: StackConfig, repository_arn: str, log_group: str) -> dict[str, dict[str, Any]]:
    """Role name -> its inline policy."""
    return {
        task_role(cfg): dashboard_policy(cfg),
        execution_role(cfg): execution_policy(cfg, repository_arn, log_group),
    }


def plan(client: Any, cfg: StackConfig, repository_arn: str, log_group: str) -> list[Action]:
    """Create each role with its policy, or set a trust/inline policy that differs."""
    actions = []
    for name, policy in roles(cfg, repository_arn, log_group).items():
        role = iam.find_role(client, name)
        parts = ["role"] if role is None else []
        if role is not None and iam.as_dict(role.get("AssumeRolePolicyDocument")) != iam.TRUST:
            parts.append("trust policy")
        if role is not None and iam.as_dict(iam.inline_policy(client, name)) != policy:
            parts.append("inline policy")
        if not parts:
            actions.append(noop("iam role", name))
            continue

        def run(
            name: str = name, policy: dict[str, Any] = policy, parts: list[str] = parts
        ) -> None:
            trust = json.dumps(iam.TRUST)
            if "role" in parts:
                description = "batch-backtest hosted dashboard (ECS task)"
                client.create_role(
                    RoleName=name, AssumeRolePolicyDocument=trust, Description=description
                )
            if "trust policy" in parts:
                client.update_assume_role_policy(RoleName=name, PolicyDocument=trust)
            client.put_role_policy(
                RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy)
            )

        verb = "create" if role is None else "update"
        actions.append(Action(verb, "iam role", name, ", ".join(parts), run))
    return actions


def teardown(client: Any, cfg: StackConfig) -> list[Action]:
    """Delete both roles (inline policies first)."""
    actions = []
    for name in (task_role(cfg), execution_role(cfg)):
        if iam.find_role(client, name) is None:
            continue

        def run(role: str = name) -> None:
            for policy in client.list_role_policies(RoleName=role)["PolicyNames"]:
                client.delete_role_policy(RoleName=role, PolicyName=policy)
            client.delete_role(RoleName=role)

        actions.append(Action("delete", "iam role", name, "policies first", run))
    return actions
