"""Two roles for the Batch jobs, both with inline least-privilege policies.

- execution role: what ECS needs to start the container (pull this repository's image, write
  this log group); the inline equivalent of AmazonECSTaskExecutionRolePolicy, narrowed.
- job role: what the engine needs at run time: exactly the input and the result bucket; and
  what a TPE search's step job needs to submit its next round (SubmitJob to this queue with the
  sweep/collect definitions, tag-on-create, DescribeJobs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from infra.actions import Action, noop
from infra.clients import Clients
from infra.config import StackConfig

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def execution_policy(cfg: StackConfig) -> dict[str, Any]:
    """Pull the engine image and write the job log group."""
    repo = cfg.arn("ecr", f"repository/{cfg.repository}")
    group = cfg.arn("logs", f"log-group:{cfg.log_group}:*")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EcrAuth",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            },
            {
                "Sid": "PullEngineImage",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": repo,
            },
            {
                "Sid": "WriteJobLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": group,
            },
        ],
    }


STEP_KINDS = ("sweep", "collect")  # what a TPE search's step job submits: a round, a step, collect


def search_step_statements(cfg: StackConfig) -> list[dict[str, Any]]:
    """What a TPE search's step job (``python -m jobs search-step``, in the engine image with
    this role) needs to submit the next round: SubmitJob to this queue with the sweep and collect
    job definitions only (the queue, the definition and the new job are each authorized), the
    tag-on-create TagResource for requests carrying this stack's ``backtest:queue`` tag, and
    DescribeJobs (no resource-level permissions: "*") to see whether a round is already
    submitted. No CancelJob, TerminateJob or ListJobs."""
    from jobs.batch import TAG_PREFIX

    queue = cfg.arn("batch", f"job-queue/{cfg.job_queue}")
    ours = {"StringEquals": {f"aws:RequestTag/{TAG_PREFIX}queue": [cfg.job_queue, queue]}}
    defs, revisions = [], []
    for kind in STEP_KINDS:
        base = cfg.arn("batch", f"job-definition/{cfg.job_definition(kind)}")
        defs += [base, f"{base}:*"]
        revisions.append(f"{base}:*")
    jobs = cfg.arn("batch", "job/*")
    return [
        {
            "Sid": "SubmitSearchRounds",
            "Effect": "Allow",
            "Action": "batch:SubmitJob",
            "Resource": [queue, *defs, jobs],
        },
        {
            "Sid": "TagSearchRoundsOnSubmit",
            "Effect": "Allow",
            "Action": "batch:TagResource",
            "Resource": [jobs, *revisions],
            "Condition": ours,
        },
        {
            "Sid": "SeeSearchRounds",
            "Effect": "Allow",
            "Action": "batch:DescribeJobs",
            "Resource": "*",
        },
    ]


def job_policy(cfg: StackConfig) -> dict[str, Any]:
    """Read both buckets, write results; submit a TPE search's next round (step statements)."""
    buckets = [cfg.bucket_arn(cfg.input_bucket), cfg.bucket_arn(cfg.result_bucket)]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListBuckets",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": buckets,
            },
            {
                "Sid": "ReadObjects",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [f"{b}/*" for b in buckets],
            },
            {
                "Sid": "WriteResults",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:DeleteObject"],
                "Resource": f"{cfg.bucket_arn(cfg.result_bucket)}/*",
            },
            *search_step_statements(cfg),
        ],
    }


def roles(cfg: StackConfig) -> dict[str, dict[str, Any]]:
    """Role name -> its inline policy (one policy per role, named after the role)."""
    return {cfg.execution_role: execution_policy(cfg), cfg.job_role: job_policy(cfg)}


def find_role(iam: Any, name: str) -> dict[str, Any] | None:
    """GetRole's role, or None when IAM has no role of that name."""
    try:
        return dict(iam.get_role(RoleName=name)["Role"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchEntity":
            return None
        raise


def inline_policy(iam: Any, role: str) -> dict[str, Any] | None:
    try:
        return dict(iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"])
    except ClientError:
        return None


def as_dict(doc: Any) -> Any:
    if isinstance(doc, str):
        import json
        from urllib.parse import unquote

        return json.loads(unquote(doc))
    return doc


def _writer(iam: Any, name: str, policy: dict[str, Any], parts: list[str]) -> Callable[[], None]:
    import json

    def run() -> None:
        if "role" in parts:
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(TRUST),
                Description="AWS Batch (Fargate) role for batch-backtest",
            )
        elif "trust policy" in parts:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(TRUST))
        if "role" in parts or "inline policy" in parts:
            iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy))

    return run


def plan(clients: Clients, cfg: StackConfig) -> list[Action]:
    """Create each role with its inline policy, or fix the trust or inline policy.

    Batch's own service-linked role is not ours: Batch creates it with the first compute
    environment (none is passed), and it stays, shared by the account.
    """
    iam = clients.iam
    actions: list[Action] = []
    for name, policy in roles(cfg).items():
        role = find_role(iam, name)
        if role is None:
            run = _writer(iam, name, policy, ["role"])
            actions.append(Action("create", "iam role", name, "does not exist", run))
            continue
        parts = []
        if as_dict(role.get("AssumeRolePolicyDocument")) != TRUST:
            parts.append("trust policy")
        if as_dict(inline_policy(iam, name)) != policy:
            parts.append("inline policy")
        if parts:
            run = _writer(iam, name, policy, parts)
            actions.append(Action("update", "iam role", name, "set " + ", ".join(parts), run))
        else:
            actions.append(noop("iam role", name))
    return actions


def status(clients: Clients, cfg: StackConfig) -> list[tuple[str, str, str]]:
    """(kind, name, state) of both roles."""
    rows = []
    for name, policy in roles(cfg).items():
        role = find_role(clients.iam, name)
        if role is None:
            rows.append(("iam role", name, "absent"))
        else:
            ok = as_dict(inline_policy(clients.iam, name)) == policy
            rows.append(("iam role", role["Arn"], "exists" + ("" if ok else ", policy differs")))
    return rows


def teardown(clients: Clients, cfg: StackConfig) -> list[Action]:
    """Delete the roles: inline policies and attachments first."""
    iam = clients.iam
    actions: list[Action] = []
    for name in roles(cfg):
        if find_role(iam, name) is None:
            continue

        def run(role: str = name) -> None:
            for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                iam.delete_role_policy(RoleName=role, PolicyName=policy)
            attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
            for item in attached:
                iam.detach_role_policy(RoleName=role, PolicyArn=item["PolicyArn"])
            iam.delete_role(RoleName=role)

        actions.append(Action("delete", "iam role", name, "policies first", run))
    return actions
