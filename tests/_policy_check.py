"""Would an IAM policy allow these AWS requests? Checked with parliament's IAM reference data.

parliament ships AWS's service authorization reference (``iam_definition.json``): per action,
the resource types it is authorized against (``job*``: required) and each type's ARN format.
:func:`authorizations` turns one recorded API call (operation, parameters, response) into the
(action, resource ARN, condition context) triples IAM evaluates, the way the Service
Authorization Reference and the S3/Batch docs describe them; :func:`allowed` evaluates an
identity policy (Allow/Deny, wildcards, the condition operators our policies use).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import parliament


@dataclass(frozen=True)
class Check:
    """One authorization IAM makes: action on resource, with the request's condition keys."""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)
    resource_type: str = ""  # parliament's resource type ("" for actions on "*")
    call: str = ""  # the API call it comes from, for messages


@cache
def reference() -> dict[str, dict[str, Any]]:
    """prefix -> {"privileges": {name: entry}, "resources": {type: arn format}}."""
    path = Path(parliament.__file__).with_name("iam_definition.json")
    out: dict[str, dict[str, Any]] = {}
    for svc in json.loads(path.read_text()):
        out[svc["prefix"]] = {
            "privileges": {p["privilege"]: p for p in svc["privileges"]},
            "resources": {r["resource"]: r["arn"] for r in svc["resources"]},
        }
    return out


def resource_types(action: str) -> list[str]:
    """The resource types (``*`` marks required) the reference lists for ``service:Action``."""
    prefix, name = action.split(":", 1)
    entry = reference()[prefix]["privileges"].get(name)
    if entry is None:
        raise KeyError(f"{action} is not in parliament's IAM reference")
    return [r["resource_type"] for r in entry["resource_types"]]


def arn_format_regex(prefix: str, resource_type: str) -> re.Pattern[str]:
    fmt = reference()[prefix]["resources"][resource_type]
    parts = re.split(r"(\$\{[^}]+\})", fmt)
    return re.compile("".join(".+?" if p.startswith("${") else re.escape(p) for p in parts) + "$")


def check_reference(check: Check) -> str | None:
    """Why the check does not fit the reference (unknown action, wrong ARN shape), or None."""
    try:
        types = resource_types(check.action)
    except KeyError as exc:
        return str(exc)
    names = [t.rstrip("*") for t in types]
    if check.resource == "*":
        return None if "" in names or not names else f"{check.action} needs a resource ARN"
    if check.resource_type not in names:
        return f"{check.action} is not authorized against {check.resource_type!r} ({names})"
    regex = arn_format_regex(check.action.split(":", 1)[0], check.resource_type)
    if not regex.match(check.resource):
        return f"{check.resource} is not a {check.resource_type} ARN"
    return None


# --- policy evaluation --------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, case: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _string_op(name: str) -> Callable[[str, str], bool]:
    ops: dict[str, Callable[[str, str], bool]] = {
        "StringEquals": lambda want, got: want == got,
        "StringLike": _glob,
        "ArnEquals": lambda want, got: want == got,
        "ArnLike": _glob,
        "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    }
    if name not in ops:
        raise ValueError(f"condition operator {name} is not handled by this checker")
    return ops[name]


def _condition_holds(op: str, key: str, wanted: list[Any], context: Mapping[str, Any]) -> bool:
    if op == "Null":
        absent = key not in context
        return any(str(w).lower() == ("true" if absent else "false") for w in wanted)
    if_exists = op.endswith("IfExists")
    base = op.removesuffix("IfExists")
    qualifier, _, base = base.rpartition(":")
    if key not in context:
        return if_exists or qualifier == "ForAllValues"
    got = [str(v) for v in _as_list(context[key])]
    match = _string_op(base)
    if qualifier == "ForAllValues":
        return all(any(match(str(w), g) for w in wanted) for g in got)
    return any(match(str(w), g) for w in wanted for g in got)


def _statement_matches(st: Mapping[str, Any], check: Check) -> bool:
    if "NotAction" in st or "NotResource" in st or "Principal" in st:
        raise ValueError("NotAction/NotResource/Principal are not handled by this checker")
    if not any(_glob(a, check.action, case=False) for a in _as_list(st["Action"])):
        return False
    if not any(_glob(r, check.resource) for r in _as_list(st["Resource"])):
        return False
    for op, keys in (st.get("Condition") or {}).items():
        for key, wanted in keys.items():
            if not _condition_holds(op, key, _as_list(wanted), check.context):
                return False
    return True


def allowed(policy: Mapping[str, Any], check: Check) -> bool:
    """An explicit Allow matches and no Deny does (IAM's identity-policy evaluation)."""
    statements = _as_list(policy["Statement"])
    if any(st["Effect"] == "Deny" and _statement_matches(st, check) for st in statements):
        return False
    return any(st["Effect"] == "Allow" and _statement_matches(st, check) for st in statements)


# --- API calls -> authorizations ---------------------------------------------------------------


@dataclass
class Call:
    """One API call as a client made it: service, operation, parameters, parsed response."""

    service: str
    operation: str
    params: dict[str, Any]
    region: str
    response: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Account:
    """Where the calls go, and how to look up what IAM knows about a resource at call time."""

    account: str
    partition: str
    definition_revision: Callable[[str], str]  # job definition name -> latest ACTIVE revision ARN
    job_tags: Callable[[str], dict[str, str]]  # job id -> its tags


NO_PERMISSION = {("sts", "GetCallerIdentity")}  # STS answers it for any caller
S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
}
S3_BUCKET_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "GetBucketLocation": "s3:GetBucketLocation",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
}
BATCH_ANY_RESOURCE = {"DescribeJobs", "ListJobs", "DescribeJobDefinitions", "DescribeJobQueues"}


def _s3(call: Call, acct: Account) -> list[Check]:
    p, op = call.params, call.operation
    bucket_arn = f"arn:{acct.partition}:s3:::{p.get('Bucket', '')}"
    if op in S3_OBJECT_ACTIONS:
        arn = f"{bucket_arn}/{p['Key']}"
        return [Check(S3_OBJECT_ACTIONS[op], arn, {}, "object")]
    if op == "CopyObject":
        source = p["CopySource"]
        src = source if isinstance(source, str) else f"{source['Bucket']}/{source['Key']}"
        return [
            Check("s3:PutObject", f"{bucket_arn}/{p['Key']}", {}, "object"),
            Check("s3:GetObject", f"arn:{acct.partition}:s3:::{src.lstrip('/')}", {}, "object"),
        ]
    if op == "DeleteObjects":
        return [
            Check("s3:DeleteObject", f"{bucket_arn}/{o['Key']}", {}, "object")
            for o in p["Delete"]["Objects"]
        ]
    if op in S3_BUCKET_ACTIONS:
        context = {f"s3:{k.lower()}": p[k] for k in ("Prefix", "Delimiter") if k in p}
        return [Check(S3_BUCKET_ACTIONS[op], bucket_arn, context, "bucket")]
    if op == "ListBuckets":
        return [Check("s3:ListAllMyBuckets", "*")]
    raise KeyError(op)


def _batch_arn(call: Call, acct: Account, resource: str) -> str:
    return f"arn:{acct.partition}:batch:{call.region}:{acct.account}:{resource}"


def _submit(call: Call, acct: Account) -> list[Check]:
    p = call.params
    queue = p["jobQueue"]
    queue_arn = queue if queue.startswith("arn:") else _batch_arn(call, acct, f"job-queue/{queue}")
    definition = p["jobDefinition"]
    if definition.startswith("arn:"):
        revision = definition
    elif ":" in definition:
        revision = _batch_arn(call, acct, f"job-definition/{definition}")
    else:
        revision = acct.definition_revision(definition)
    job_arn = _batch_arn(call, acct, f"job/{call.response['jobId']}")
    tags = dict(p.get("tags") or {})
    context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    # the reference's job-definition type; real accounts are seen to authorize the revision ARN
    # (name:N) and the documented examples use both forms, so both must be allowed
    checks = [
        Check("batch:SubmitJob", queue_arn, context, "job-queue"),
        Check("batch:SubmitJob", revision, context, "job-definition"),
        Check("batch:SubmitJob", revision.rsplit(":", 1)[0], context, "job-definition"),
        Check("batch:SubmitJob", job_arn, context, "job"),
    ]
    if tags:  # tag-on-create: Batch authorizes TagResource on the new job and the revision
        checks += [
            Check("batch:TagResource", job_arn, context, "job"),
            Check("batch:TagResource", revision, context, "job-definition-revision"),
        ]
    return checks


def _batch(call: Call, acct: Account) -> list[Check]:
    op = call.operation
    if op in BATCH_ANY_RESOURCE:
        return [Check(f"batch:{op}", "*")]
    if op == "SubmitJob":
        return _submit(call, acct)
    if op in ("CancelJob", "TerminateJob"):
        job_id = call.params["jobId"]
        tags = acct.job_tags(job_id)
        context = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
        return [Check(f"batch:{op}", _batch_arn(call, acct, f"job/{job_id}"), context, "job")]
    raise KeyError(op)


def _logs(call: Call, acct: Account) -> list[Check]:
    p, op = call.params, call.operation
    group = f"arn:{acct.partition}:logs:{call.region}:{acct.account}:log-group:{p['logGroupName']}"
    if op == "GetLogEvents":
        stream = f"{group}:log-stream:{p['logStreamName']}"
        return [Check("logs:GetLogEvents", stream, {}, "log-stream")]
    if op in ("FilterLogEvents", "DescribeLogStreams"):
        return [Check(f"logs:{op}", group, {}, "log-group")]
    raise KeyError(op)


MAPPERS: dict[str, Callable[[Call, Account], list[Check]]] = {
    "s3": _s3,
    "batch": _batch,
    "logs": _logs,
}


def authorizations(call: Call, acct: Account) -> list[Check]:
    """What IAM checks for ``call``; KeyError for a call this checker cannot map yet."""
    if (call.service, call.operation) in NO_PERMISSION:
        return []
    mapper = MAPPERS.get(call.service)
    if mapper is None:
        raise KeyError(f"{call.service}:{call.operation}")
    try:
        checks = mapper(call, acct)
    except KeyError as exc:
        raise KeyError(f"{call.service}:{call.operation} ({exc})") from None
    label = f"{call.service}.{call.operation}"
    return [Check(c.action, c.resource, c.context, c.resource_type, label) for c in checks]
