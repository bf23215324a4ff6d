"""Compare what `up` sends with what AWS describes back, on the sent keys only.

Real Describe calls answer more than was sent: DescribeJobDefinitions adds empty lists
(``mountPoints``, ``volumes``, ``ulimits``, ``secrets``, ``logConfiguration.secretOptions``) and
fields of its own (``containerOrchestrationType``, ``runtimePlatform``); DescribeLogGroups adds
``inheritedProperties`` and ``logGroupClass``. A key AWS adds is never a difference; a key we send
is compared recursively, lists of name/type records in any order, retry actions in any case.
"""

from __future__ import annotations

from typing import Any

CASELESS_KEYS = frozenset({"action"})


def _record_key(item: Any) -> str | None:
    if isinstance(item, dict) and ("name" in item or "type" in item):
        return str(item.get("name", item.get("type")))
    return None


def _ordered(items: list[Any]) -> list[Any]:
    keys = [_record_key(item) for item in items]
    if items and all(k is not None for k in keys):
        return [item for _, item in sorted(zip(keys, items, strict=True), key=lambda p: str(p[0]))]
    return items


def _empty(value: Any) -> bool:
    return value is None or value in ([], {})


def differs(sent: Any, described: Any, key: str = "") -> bool:
    """True when ``described`` does not carry ``sent`` (extra described keys are ignored)."""
    if _empty(sent) and _empty(described):
        return False
    if isinstance(sent, dict):
        if not isinstance(described, dict):
            return True
        return any(differs(v, described.get(k), k) for k, v in sent.items())
    if isinstance(sent, list):
        if not isinstance(described, list) or len(sent) != len(described):
            return True
        pairs = zip(_ordered(list(sent)), _ordered(list(described)), strict=True)
        return any(differs(a, b, key) for a, b in pairs)
    if key in CASELESS_KEYS and isinstance(sent, str) and isinstance(described, str):
        return sent.upper() != described.upper()
    return bool(sent != described)


def differing_keys(
    sent: dict[str, Any], described: dict[str, Any], skip: tuple[str, ...] = ()
) -> list[str]:
    """The top-level sent keys whose values ``described`` does not carry."""
    return [k for k, v in sent.items() if k not in skip and differs(v, described.get(k), k)]
