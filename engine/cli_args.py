"""Argument parsing for the engine CLI, generated from SimOptions and the strategy registry.

One flag per :class:`~engine.spec.SimOptions` field (``--slippage-bps`` for ``slippage_bps``,
help from the field metadata), ``--param NAME=VALUE`` for strategy parameters, and a ``--help``
/ ``--list-strategies`` text built from the registry, so adding a strategy or an option needs no
change here. Parsing errors raise :class:`UsageError` (exit 2, one line) instead of printing
argparse's usage block.
"""

from __future__ import annotations

import argparse
import re
import secrets
import textwrap
from dataclasses import MISSING, Field, fields
from datetime import UTC, datetime
from typing import Any, NoReturn

from engine.errors import ParamError
from engine.spec import FILL_MODES, RunSpec, SimOptions, check_run_id
from engine.store import validate_bucket, validate_key

WIDTH = 96
MAX_USER = 128
MAX_TAG_VALUE = 256
TAG_KEY_RE = re.compile(r"^[A-Za-z0-9_.:/+\-@]{1,128}$")


class UsageError(ParamError):
    """Bad command-line arguments."""

    kind = "bad_arguments"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def number(text: str) -> float:
    """A float from the command line (argparse reports 'invalid number value')."""
    return float(text)


def _default_text(f: Field[Any]) -> str:
    default = f.default if f.default is not MISSING else None
    if default is None:
        return "off"
    if isinstance(default, bool):
        return "on" if default else "off"
    return f"{default:g}" if isinstance(default, float) else str(default)


def _add_option(group: Any, f: Field[Any]) -> None:
    flag = "--" + f.name.replace("_", "-")
    text = f"{f.metadata.get('help', f.name)} (default: {_default_text(f)})".replace("%", "%%")
    kind = str(f.type)
    if kind == "bool":
        group.add_argument(
            flag,
            dest=f.name,
            action=argparse.BooleanOptionalAction,
            default=argparse.SUPPRESS,
            help=text,
        )
    elif f.name == "fill":
        group.add_argument(
            flag, dest=f.name, choices=FILL_MODES, default=argparse.SUPPRESS, help=text
        )
    elif kind.startswith(("float", "int")):
        group.add_argument(
            flag, dest=f.name, type=number, metavar="X", default=argparse.SUPPRESS, help=text
        )
    else:
        group.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, help=text)


def strategies_text() -> str:
    """Every registered strategy with its parameters, defaults, bounds and help."""
    from engine.strategies import list_strategies

    lines = ["strategies (--strategy NAME, parameters as --param NAME=VALUE):"]
    for strat in list_strategies():
        lines += textwrap.wrap(
            f"{strat.name}: {strat.description}",
            width=WIDTH,
            initial_indent="  ",
            subsequent_indent="      ",
        )
        for p in strat.params:
            default = str(p.default).lower() if isinstance(p.default, bool) else p.default
            lines.append(f"      {p.name}={default}  [{p.allowed()}]  {p.help}".rstrip())
        for c in getattr(strat, "constraints", ()):
            lines.append(f"      rule: {c.message}")
    return "\n".join(lines)


def build_parser(*, with_strategies: bool = True) -> argparse.ArgumentParser:
    """The CLI parser; ``with_strategies`` adds the registry listing to ``--help``."""
    parser = _Parser(
        prog="python -m engine.backtest",
        description=textwrap.fill(
            "Run one backtest of a price file in SOURCE_BUCKET/SOURCE_KEY and write the "
            "results under RESULT_BUCKET/runs/<run id>/ (spec.json, metrics.json, "
            "equity.parquet, trades.parquet, _SUCCESS). Prints the result prefix. "
            "Storage: the folder BACKTEST_STORAGE_ROOT when set, else S3 "
            "(AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL for an S3-compatible endpoint). "
            "Exit 0 success, 2 bad input or arguments, 1 infrastructure error.",
            width=WIDTH,
        ),
        epilog=strategies_text() if with_strategies else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source_bucket", nargs="?", metavar="SOURCE_BUCKET")
    parser.add_argument("source_key", nargs="?", metavar="SOURCE_KEY")
    parser.add_argument("result_bucket", nargs="?", metavar="RESULT_BUCKET")
    parser.add_argument("--strategy", default="sma_cross", help="strategy name (see below)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="strategy parameter, repeatable (e.g. --param fast=20)",
    )
    parser.add_argument("--run-id", help="result id (default: <UTC time>-<strategy>-<random>)")
    parser.add_argument(
        "--user", help="who submitted the run, recorded in spec.json (printable, <= 128 chars)"
    )
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="label recorded in spec.json, repeatable (e.g. --tag project=alpha)",
    )
    parser.add_argument(
        "--list-strategies", action="store_true", help="list strategies and parameters, exit"
    )
    parser.add_argument(
        "--sweep",
        metavar="URI",
        help="run one sweep chunk: s3://BUCKET/sweeps/ID/spec.json (array child)",
    )
    group = parser.add_argument_group("simulation options")
    for f in fields(SimOptions):
        _add_option(group, f)
    return parser


def parse_params(items: list[str]) -> dict[str, str]:
    """``["fast=10", "slow=50"]`` -> ``{"fast": "10", "slow": "50"}`` (values coerced later)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or not value.strip():
            raise UsageError(f"--param expects NAME=VALUE, got {item!r}")
        if name in out:
            raise UsageError(f"--param {name} given more than once")
        out[name] = value.strip()
    return out


def check_user(user: str | None) -> str | None:
    """A submitting user name: printable text of at most 128 characters (None: not given)."""
    if user is None:
        return None
    if not isinstance(user, str) or not user.strip():
        raise UsageError("--user must not be empty")
    if len(user) > MAX_USER or not user.isprintable():
        raise UsageError(
            f"--user must be printable text of at most {MAX_USER} characters, got {user[:40]!r}"
        )
    return user.strip()


def parse_tags(items: list[str]) -> dict[str, str]:
    """``["project=alpha"]`` -> ``{"project": "alpha"}``; keys as TAG_KEY_RE, values printable."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not TAG_KEY_RE.match(key):
            raise UsageError(
                f"--tag expects KEY=VALUE with a key of 1-128 letters, digits or _.:/+-@, "
                f"got {item[:60]!r}"
            )
        if len(value) > MAX_TAG_VALUE or not value.isprintable():
            raise UsageError(
                f"--tag {key}: the value must be printable text of at most {MAX_TAG_VALUE} "
                "characters"
            )
        if key in out:
            raise UsageError(f"--tag {key} given more than once")
        out[key] = value
    return out


def option_overrides(ns: argparse.Namespace) -> dict[str, Any]:
    """The SimOptions fields given on the command line."""
    return {f.name: getattr(ns, f.name) for f in fields(SimOptions) if hasattr(ns, f.name)}


def make_run_id(strategy: str, now: datetime | None = None) -> str:
    """``<UTC yyyymmddThhmmss>-<strategy>-<6 hex>``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_]+", "_", strategy)[:40] or "run"
    return f"{stamp}-{safe}-{secrets.token_hex(3)}"


def spec_from_args(ns: argparse.Namespace) -> RunSpec:
    """A RunSpec from parsed arguments: names, keys, run id and options checked."""
    missing = [
        m
        for m, v in (
            ("SOURCE_BUCKET", ns.source_bucket),
            ("SOURCE_KEY", ns.source_key),
            ("RESULT_BUCKET", ns.result_bucket),
        )
        if v is None
    ]
    if missing:
        raise UsageError(f"the following arguments are required: {', '.join(missing)}")
    validate_bucket(ns.source_bucket)
    validate_key(ns.source_key)
    validate_bucket(ns.result_bucket)
    run_id = check_run_id(ns.run_id or make_run_id(ns.strategy))
    options = SimOptions().with_overrides(**option_overrides(ns)).validate()
    return RunSpec(
        source_bucket=ns.source_bucket,
        source_key=ns.source_key,
        result_bucket=ns.result_bucket,
        strategy=ns.strategy,
        params=parse_params(ns.param),
        options=options,
        run_id=run_id,
        user=check_user(ns.user),
        tags=parse_tags(ns.tag),
    )
