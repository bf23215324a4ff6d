"""Which AWS partition a region is in, from botocore's endpoint data (no AWS call).

ARNs start ``arn:<partition>:`` and the ECR registry is ``<account>.dkr.ecr.<region>.<dnsSuffix>``:
``aws`` (amazonaws.com), ``aws-cn`` (amazonaws.com.cn) and ``aws-us-gov`` (amazonaws.com). Any
other partition (the isolated ones), or a region where botocore knows no AWS Batch endpoint, is
refused up front with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from engine.errors import BacktestError

SUPPORTED_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")


@dataclass(frozen=True)
class Partition:
    """An AWS partition: its name in ARNs and its DNS suffix."""

    name: str = "aws"
    dns_suffix: str = "amazonaws.com"


@cache
def _endpoint_data() -> dict[str, Any]:
    from botocore.loaders import create_loader

    return dict(create_loader().load_data("endpoints"))


def _batch_regions(session: Any, partition: str) -> list[str]:
    return list(session.get_available_regions("batch", partition_name=partition))


def partition_for(region: str) -> Partition:
    """The partition of ``region``; BacktestError (one line) when it is not supported here."""
    import botocore.session
    from botocore.exceptions import UnknownRegionError

    session = botocore.session.get_session()
    try:
        name = session.get_partition_for_region(region)
    except UnknownRegionError:
        name = ""
    suffixes = {p["partition"]: p["dnsSuffix"] for p in _endpoint_data()["partitions"]}
    if name not in SUPPORTED_PARTITIONS:
        where = f"partition {name}" if name in suffixes else "no partition botocore knows"
        raise BacktestError(
            f"--region {region!r}: {where}; supported: regions of "
            f"{', '.join(SUPPORTED_PARTITIONS)} where AWS Batch runs, e.g. us-east-1"
        )
    regions = _batch_regions(session, name)
    if region not in regions:
        raise BacktestError(
            f"--region {region!r}: AWS Batch has no endpoint there in partition {name}; "
            f"use one of {', '.join(sorted(regions))}"
        )
    return Partition(name, str(suffixes[name]))
