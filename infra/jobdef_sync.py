"""Register job definition revisions only when what `up` sends differs from the latest one.

The desired definitions come from :func:`infra.jobdefs.desired`. They are compared with the
latest ACTIVE revision on the sent keys only (:mod:`infra.compare`): real DescribeJobDefinitions
answers more than was registered (``logConfiguration.secretOptions``, ``mountPoints``,
``volumes``, ``ulimits``, ``secrets`` as empty lists, ``runtimePlatform``, lowercase retry
actions, environment in another order), none of which is a difference.
"""

from __future__ import annotations

from typing import Any

from infra.actions import Action, noop
from infra.clients import Clients
from infra.compare import differs
from infra.config import JOB_KINDS, StackConfig
from infra.jobdefs import desired, latest_active
from infra.network import Network

NOT_COMPARED = ("jobDefinitionName", "tags")  # the name selects the revision; tags are metadata


def differences(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    """Sent keys (container keys as ``container.KEY``) the revision does not carry."""
    diffs = []
    for key, value in want.items():
        if key in NOT_COMPARED:
            continue
        if key == "containerProperties":
            got = have.get(key) or {}
            diffs += [f"container.{k}" for k, v in value.items() if differs(v, got.get(k), k)]
        elif differs(value, have.get(key), key):
            diffs.append(key)
    return diffs


def plan(clients: Clients, cfg: StackConfig, image: str, net: Network) -> list[Action]:
    """Register a new revision for each kind whose desired definition differs."""
    batch = clients.batch
    actions = []
    for kind in JOB_KINDS:
        want = desired(cfg, kind, image, net)
        name = want["jobDefinitionName"]
        have = latest_active(batch, name)

        def register(w: dict[str, Any] = want) -> None:
            batch.register_job_definition(**w)

        if have is None:
            size = cfg.sizes[kind]
            why = f"{size.vcpu_text} vCPU / {size.memory} MiB, image {image}"
            actions.append(Action("create", "job definition", name, why, register))
            continue
        diffs = differences(want, have)
        if diffs:
            why = f"new revision (was {have['revision']}): " + ", ".join(diffs)
            actions.append(Action("update", "job definition", name, why, register))
        else:
            actions.append(noop("job definition", name, f"revision {have['revision']}"))
    return actions
