"""What the stack should look like: names derived from the prefix, sizes, retention, network.

Nothing here calls AWS. :class:`StackConfig` is built once by the CLI and handed to every
resource module, which turns it into a desired state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.errors import BacktestError

PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$|^[a-z]$")
JOB_KINDS = ("run", "sweep", "collect")

# Fargate's valid (vCPU -> memory MiB) combinations, as AWS Batch documents them.
FARGATE_MEMORY: dict[float, tuple[int, ...]] = {
    0.25: (512, 1024, 2048),
    0.5: tuple(range(1024, 4097, 1024)),
    1.0: tuple(range(2048, 8193, 1024)),
    2.0: tuple(range(4096, 16385, 1024)),
    4.0: tuple(range(8192, 30721, 1024)),
    8.0: tuple(range(16384, 61441, 4096)),
    16.0: tuple(range(32768, 122881, 8192)),
}


def _fmt_vcpu(vcpu: float) -> str:
    return f"{vcpu:g}"


@dataclass(frozen=True)
class JobSize:
    """vCPU and memory (MiB) of one job definition; only Fargate's valid pairs are accepted."""

    vcpu: float
    memory: int

    def check(self, kind: str) -> JobSize:
        """Raise a one-line error naming the valid memory values when the pair is invalid."""
        allowed = FARGATE_MEMORY.get(float(self.vcpu))
        if allowed is None:
            valid = ", ".join(_fmt_vcpu(v) for v in FARGATE_MEMORY)
            raise BacktestError(
                f"{kind} size: {_fmt_vcpu(self.vcpu)} vCPU is not offered by Fargate; "
                f"use one of {valid}"
            )
        if self.memory not in allowed:
            step = allowed[1] - allowed[0]
            raise BacktestError(
                f"{kind} size: {_fmt_vcpu(self.vcpu)} vCPU with {self.memory} MiB is not a valid "
                f"Fargate pair; with {_fmt_vcpu(self.vcpu)} vCPU use {allowed[0]}..{allowed[-1]} "
                f"MiB in steps of {step}"
            )
        return self

    @property
    def vcpu_text(self) -> str:
        """The VCPU value as Batch's resourceRequirements want it ("0.25", "1", ...)."""
        return _fmt_vcpu(self.vcpu)


def parse_size(text: str) -> tuple[str, JobSize]:
    """Parse ``KIND=VCPU:MEMORY`` (e.g. ``sweep=2:4096``) and check the Fargate pair."""
    kind, sep, rest = text.partition("=")
    vcpu_s, sep2, mem_s = rest.partition(":")
    if not sep or not sep2 or kind not in JOB_KINDS:
        raise BacktestError(
            f"--size {text!r}: expected KIND=VCPU:MEMORY with KIND one of "
            f"{', '.join(JOB_KINDS)}, e.g. sweep=1:2048"
        )
    try:
        size = JobSize(float(vcpu_s), int(mem_s))
    except ValueError:
        raise BacktestError(
            f"--size {text!r}: VCPU must be a number and MEMORY whole MiB, e.g. run=1:2048"
        ) from None
    return kind, size.check(kind)


DEFAULT_SIZES = {
    "run": JobSize(1.0, 2048),
    "sweep": JobSize(1.0, 2048),
    "collect": JobSize(1.0, 4096),
}


@dataclass(frozen=True)
class StackConfig:
    """Everything `up` needs to know, other than what it discovers (account, network)."""

    prefix: str = "backtest"
    region: str = "us-east-1"
    account: str = "000000000000"
    max_vcpus: int = 16
    sizes: dict[str, JobSize] = field(default_factory=lambda: dict(DEFAULT_SIZES))
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    versioning: bool = False
    expire_days: int = 90
    log_retention_days: int = 30
    keep_images: int = 10
    job_timeout: int = 3600
    attempts: int = 3
    image_tag: str = "latest"
    partition: str = "aws"  # from infra.regions.partition_for(region)
    dns_suffix: str = "amazonaws.com"

    def validate(self) -> StackConfig:
        """Raise one actionable line for a bad prefix, size or count; return self."""
        if not PREFIX_RE.match(self.prefix):
            raise BacktestError(
                f"--prefix {self.prefix!r}: use 1-20 lowercase letters, digits or hyphens, "
                "starting with a letter (it names buckets, roles and queues)"
            )
        for kind, size in self.sizes.items():
            size.check(kind)
        checks = {
            "--max-vcpus": (self.max_vcpus, 1, 10_000),
            "--expire-days": (self.expire_days, 0, 36_500),
            "--keep-images": (self.keep_images, 1, 1000),
            "job_timeout": (self.job_timeout, 60, 14 * 86_400),
            "--attempts": (self.attempts, 1, 10),
        }
        for name, (value, low, high) in checks.items():
            if not low <= value <= high:
                raise BacktestError(f"{name} must be between {low} and {high}, got {value}")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise BacktestError(
                f"--log-retention-days {self.log_retention_days}: CloudWatch accepts "
                f"{', '.join(map(str, LOG_RETENTION_DAYS))}"
            )
        if self.security_groups and not self.subnets:
            raise BacktestError(
                "--security-group needs --subnets in its VPC (without both, `up` uses the "
                "default VPC and creates its own security group)"
            )
        return self

    # ---- names ---------------------------------------------------------------------------
    @property
    def input_bucket(self) -> str:
        return f"{self.prefix}-input-{self.account}-{self.region}"

    @property
    def result_bucket(self) -> str:
        return f"{self.prefix}-results-{self.account}-{self.region}"

    @property
    def repository(self) -> str:
        return f"{self.prefix}-engine"

    @property
    def repository_uri(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def registry(self) -> str:
        """The ECR registry host of this account and region (the partition's DNS suffix)."""
        return f"{self.account}.dkr.ecr.{self.region}.{self.dns_suffix}"

    @property
    def execution_role(self) -> str:
        return f"{self.prefix}-batch-execution"

    @property
    def job_role(self) -> str:
        return f"{self.prefix}-batch-job"

    @property
    def log_group(self) -> str:
        return f"/aws/batch/{self.prefix}"

    @property
    def spot_environment(self) -> str:
        return f"{self.prefix}-fargate-spot"

    @property
    def ondemand_environment(self) -> str:
        return f"{self.prefix}-fargate"

    @property
    def job_queue(self) -> str:
        return f"{self.prefix}-queue"

    def job_definition(self, kind: str) -> str:
        """Job definition name for ``run``, ``sweep`` or ``collect``."""
        return f"{self.prefix}-{kind}"

    # ---- ARNs ----------------------------------------------------------------------------
    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        """An ARN in this partition and account (and region unless the service is global)."""
        where = self.region if region else ""
        return f"arn:{self.partition}:{service}:{where}:{self.account}:{resource}"

    def bucket_arn(self, bucket: str) -> str:
        return f"arn:{self.partition}:s3:::{bucket}"

    def role_arn(self, role: str) -> str:
        return self.arn("iam", f"role/{role}", region=False)


LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip
