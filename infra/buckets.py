"""Input and result buckets: SSE, public access blocked, optional versioning, lifecycle."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from engine.errors import InfraError
from infra.actions import Action, noop
from infra.clients import Clients
from infra.config import StackConfig

PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
ENCRYPTION = {
    "Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
    ]
}
EXPIRING_PREFIXES = ("runs/", "sweeps/")
ABORT_UPLOADS_DAYS = 7
NONCURRENT_DAYS = 30
BUILD_SOURCE_DAYS = 7


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def bucket_exists(s3: Any, bucket: str) -> bool:
    """True if the bucket exists and is ours; InfraError if someone else owns the name."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise InfraError(
            f"bucket {bucket} exists but is not accessible ({_code(exc)}); choose another --prefix"
        ) from None
    return True


def lifecycle_rules(cfg: StackConfig, bucket: str) -> list[dict[str, Any]]:
    """The lifecycle rules a bucket should carry."""
    rules: list[dict[str, Any]] = [
        {
            "ID": "abort-incomplete-uploads",
            "Filter": {"Prefix": ""},
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_UPLOADS_DAYS},
        }
    ]
    if bucket == cfg.result_bucket:  # push-image --remote's build contexts
        rules.append(
            {
                "ID": "expire-builds",
                "Filter": {"Prefix": "builds/"},
                "Status": "Enabled",
                "Expiration": {"Days": BUILD_SOURCE_DAYS},
            }
        )
    if bucket == cfg.result_bucket and cfg.expire_days > 0:
        for prefix in EXPIRING_PREFIXES:
            rule: dict[str, Any] = {
                "ID": f"expire-{prefix.rstrip('/')}",
                "Filter": {"Prefix": prefix},
                "Status": "Enabled",
                "Expiration": {"Days": cfg.expire_days},
            }
            if cfg.versioning:
                rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": NONCURRENT_DAYS}
            rules.append(rule)
    return rules


def _rule_key(rule: dict[str, Any]) -> tuple[Any, ...]:
    filt = rule.get("Filter") or {}
    prefix = filt.get("Prefix", rule.get("Prefix", ""))
    return (
        rule.get("ID"),
        prefix or "",
        rule.get("Status"),
        (rule.get("Expiration") or {}).get("Days"),
        (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation"),
        (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"),
    )


def _current(s3: Any, bucket: str) -> dict[str, Any]:
    """Encryption algorithm, public access block, versioning and lifecycle as they are now."""
    state: dict[str, Any] = {}
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        default = rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]
        state["encryption"] = default["SSEAlgorithm"]
    except ClientError:
        state["encryption"] = None
    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        state["public_block"] = all(block.get(k) for k in PUBLIC_ACCESS_BLOCK)
    except ClientError:
        state["public_block"] = False
    state["versioning"] = s3.get_bucket_versioning(Bucket=bucket).get("Status", "")
    try:
        got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        state["lifecycle"] = sorted(_rule_key(r) for r in got)
    except ClientError:
        state["lifecycle"] = []
    return state


def _desired_versioning(cfg: StackConfig, current: str) -> str:
    if cfg.versioning:
        return "Enabled"
    return "Suspended" if current == "Enabled" else current


def _configure(s3: Any, cfg: StackConfig, bucket: str, parts: list[str]) -> None:
    if "encryption" in parts:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=ENCRYPTION)
    if "public access block" in parts:
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK
        )
    if "versioning" in parts:
        status = "Enabled" if cfg.versioning else "Suspended"
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})
    if "lifecycle" in parts:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle_rules(cfg, bucket)}
        )


def _create(s3: Any, cfg: StackConfig, bucket: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if cfg.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": cfg.region}
    s3.create_bucket(**kwargs)
    parts = ["encryption", "public access block", "lifecycle"]
    _configure(s3, cfg, bucket, [*parts, "versioning"] if cfg.versioning else parts)


def _plan_bucket(clients: Clients, cfg: StackConfig, bucket: str) -> Action:
    s3 = clients.s3
    if not bucket_exists(s3, bucket):
        why = "does not exist"
        return Action("create", "bucket", bucket, why, lambda: _create(s3, cfg, bucket))
    now = _current(s3, bucket)
    parts = []
    if now["encryption"] not in ("AES256", "aws:kms"):
        parts.append("encryption")
    if not now["public_block"]:
        parts.append("public access block")
    if now["versioning"] != _desired_versioning(cfg, now["versioning"]):
        parts.append("versioning")
    if now["lifecycle"] != sorted(_rule_key(r) for r in lifecycle_rules(cfg, bucket)):
        parts.append("lifecycle")
    if not parts:
        return noop("bucket", bucket)
    reason = "set " + ", ".join(parts)
    return Action("update", "bucket", bucket, reason, lambda: _configure(s3, cfg, bucket, parts))


def plan(clients: Clients, cfg: StackConfig) -> list[Action]:
    """Create or fix the input and the result bucket."""
    return [_plan_bucket(clients, cfg, b) for b in (cfg.input_bucket, cfg.result_bucket)]


def status(clients: Clients, cfg: StackConfig) -> list[tuple[str, str, str]]:
    """(kind, name, state) for both buckets."""
    rows = []
    for bucket in (cfg.input_bucket, cfg.result_bucket):
        if not bucket_exists(clients.s3, bucket):
            rows.append(("bucket", bucket, "absent"))
            continue
        now = _current(clients.s3, bucket)
        state = (
            f"exists, encryption {now['encryption'] or 'none'}, "
            f"public access {'blocked' if now['public_block'] else 'NOT blocked'}, "
            f"versioning {now['versioning'] or 'off'}, {len(now['lifecycle'])} lifecycle rules"
        )
        rows.append(("bucket", bucket, state))
    return rows


def _empty(s3: Any, bucket: str) -> None:
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        items = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        for start in range(0, len(items), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": items[start : start + 1000]})


def teardown(clients: Clients, cfg: StackConfig, delete_data: bool) -> list[Action]:
    """Delete both buckets and everything in them, only with --delete-data."""
    s3 = clients.s3
    actions = []
    for bucket in (cfg.input_bucket, cfg.result_bucket):
        if not bucket_exists(s3, bucket):
            continue
        if not delete_data:
            actions.append(noop("bucket", bucket, "kept; pass --delete-data to delete it"))
            continue

        def run(b: str = bucket) -> None:
            _empty(s3, b)
            s3.delete_bucket(Bucket=b)

        actions.append(Action("delete", "bucket", bucket, "--delete-data: objects too", run))
    return actions
