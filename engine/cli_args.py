"""The one command-line vocabulary of a run, shared by the engine CLI and ``python -m jobs``.

:func:`add_run_options` adds a run's arguments to a parser, :func:`spec_from_args` reads a
RunSpec back, :func:`args_from_spec` writes a RunSpec as those arguments (what a job runs),
and :func:`new_run_id` is the one run-id format.

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
from engine.spec import FILL_MODES, RunSpec, SimOptions, check_pinned, check_run_id
from engine.store.objects import validate_bucket, validate_key

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


def option_flag(name: str) -> str:
    """SimOptions field name -> CLI flag (slippage_bps -> --slippage-bps)."""
    return "--" + name.replace("_", "-")


def _add_option(group: Any, f: Field[Any]) -> None:
    flag = option_flag(f.name)
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


def strategies_text(stored: Any = None, where: str = "") -> str:
    """Every built-in strategy with its parameters, defaults, bounds and help; then the stored
    strategy files (``stored``: StrategyInfo list read from their sidecars, no code run) or the
    line ``where`` says why they are not listed."""
    from engine.sim.strategies import list_strategies

    lines = ["strategies (--strategy NAME, parameters as --param NAME=VALUE):"]
    for strat in list_strategies():
        rules = [c.message for c in strat.constraints]
        lines += _strategy_lines(strat.name, strat.description, strat.params, rules)
    if stored is None:
        lines.append(
            "strategy files (strategies/NAME.py in SOURCE_BUCKET) are found after the "
            "built-ins; " + (where or "give SOURCE_BUCKET before --help to list them")
        )
        return "\n".join(lines)
    lines.append(f"strategy files in {where}:" if stored else f"no strategy files in {where}")
    for info in stored:
        lines += _strategy_lines(info.name, info.description, info.params, info.constraints)
    return "\n".join(lines)


def _strategy_lines(name: str, description: str, params: Any, rules: Any) -> list[str]:
    lines = textwrap.wrap(
        f"{name}: {description}", width=WIDTH, initial_indent="  ", subsequent_indent="      "
    )
    for p in params:
        default = str(p.default).lower() if isinstance(p.default, bool) else p.default
        lines.append(f"      {p.name}={default}  [{p.allowed()}]  {p.help}".rstrip())
    lines += [f"      rule: {rule}" for rule in rules]
    return lines


def stored_strategies_text(env: Any, bucket: str | None) -> str:
    """:func:`strategies_text` with the strategy files of ``bucket`` when it can be read
    cheaply (a local root; S3 only for a bucket named on the command line); never raises."""
    from engine.errors import ProjectError

    if not bucket:
        return strategies_text()
    try:
        validate_bucket(bucket)
        from engine.store.objects import open_store
        from engine.userstrat import STRATEGY_PREFIX, list_strategies

        store = open_store(env)
        stored = list_strategies(store, bucket)
        return strategies_text(stored, store.uri(bucket, STRATEGY_PREFIX))
    except ProjectError as exc:
        return strategies_text(None, f"could not list them in {bucket!r}: {exc}")


def build_parser(
    *, with_strategies: bool = True, epilog: str | None = None
) -> argparse.ArgumentParser:
    """The CLI parser; ``with_strategies`` adds the registry listing to ``--help`` (``epilog``
    replaces it, e.g. with the stored strategy files)."""
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
        epilog=epilog or (strategies_text() if with_strategies else None),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_options(parser, required=False)
    parser.add_argument(
        "--list-strategies", action="store_true", help="list strategies and parameters, exit"
    )
    parser.add_argument(
        "--sweep",
        metavar="URI",
        help="run one sweep chunk: s3://BUCKET/sweeps/ID/spec.json (array child)",
    )
    parser.add_argument(
        "--round",
        metavar="R",
        type=int,
        help="with --sweep of a TPE search: a child of round R's array "
        "(chunk = the round's first chunk + AWS_BATCH_JOB_ARRAY_INDEX)",
    )
    return parser


def add_run_options(
    parser: argparse.ArgumentParser,
    *,
    required: bool = True,
    many_keys: bool = False,
    per_run: bool = True,
) -> None:
    """A run's arguments: SOURCE_BUCKET SOURCE_KEY RESULT_BUCKET, --strategy, the simulation
    options (one flag per SimOptions field) and, with ``per_run``, --param/--run-id/--user/--tag.

    ``required=False`` lets the positionals be left out (``--list-strategies``); ``many_keys``
    takes one or more SOURCE_KEYs (a list in the namespace)."""
    one = "?" if not required else None
    parser.add_argument("source_bucket", nargs=one, metavar="SOURCE_BUCKET")
    parser.add_argument(
        "source_key", nargs="+" if many_keys else one, metavar="SOURCE_KEY",
        help="price file key (CSV or Parquet)" + ("; several: one each" if many_keys else ""),
    )  # fmt: skip
    parser.add_argument("result_bucket", nargs=one, metavar="RESULT_BUCKET")
    parser.add_argument("--strategy", default="sma_cross", help="strategy name (see below)")
    if per_run:
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
    if per_run:
        pin = parser.add_argument_group("a strategy file's exact copy (reruns set these)")
        pin.add_argument(
            "--strategy-source",
            metavar="URI",
            help="run this copy of the strategy file (e.g. s3://BUCKET/runs/ID/strategy.py) "
            "instead of strategies/NAME.py",
        )
        pin.add_argument(
            "--strategy-sha256", metavar="HEX", help="the sha256 the --strategy-source must have"
        )
    group = parser.add_argument_group("simulation options")
    for f in fields(SimOptions):
        _add_option(group, f)


def parse_value(text: str) -> Any:
    """'10' -> 10, '0.5' -> 0.5, 'true' -> True, anything else stays a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["fast=10", "w=0.5"]`` -> ``{"fast": 10, "w": 0.5}`` (the strategy checks them)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or not value.strip():
            raise UsageError(f"--param expects NAME=VALUE, got {item!r}")
        if name in out:
            raise UsageError(f"--param {name} given more than once")
        out[name] = parse_value(value.strip())
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


def new_run_id(strategy: str, now: datetime | None = None) -> str:
    """The one run-id format: ``<UTC yyyymmddThhmmss>-<strategy>-<6 hex>``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_]+", "_", strategy)[:40] or "run"
    return f"{stamp}-{safe}-{secrets.token_hex(3)}"


def options_from_args(ns: argparse.Namespace) -> SimOptions:
    """SimOptions with the options given on the command line (validated)."""
    return SimOptions().with_overrides(**option_overrides(ns)).validate()


def source_keys(ns: argparse.Namespace) -> list[str]:
    """The SOURCE_KEY arguments (each at most once)."""
    raw = ns.source_key  # one key (None when left out) or a list with many_keys
    keys: list[str] = list(raw) if isinstance(raw, list | tuple) else [raw]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise UsageError(f"SOURCE_KEY {key!r} is given twice")
    return keys


def spec_from_args(
    ns: argparse.Namespace, *, key: str | None = None, user: str | None = None
) -> RunSpec:
    """A RunSpec from parsed arguments (for ``key``, default the first SOURCE_KEY): names,
    keys, run id (None when not given: the engine or the executor makes one with
    :func:`new_run_id`) and options checked; ``user`` when --user is not given."""
    key = source_keys(ns)[0] if key is None else key
    missing = [
        m
        for m, v in (
            ("SOURCE_BUCKET", ns.source_bucket),
            ("SOURCE_KEY", key),
            ("RESULT_BUCKET", ns.result_bucket),
        )
        if v is None
    ]
    if missing:
        raise UsageError(f"the following arguments are required: {', '.join(missing)}")
    validate_bucket(ns.source_bucket)
    validate_key(key)
    validate_bucket(ns.result_bucket)
    check_pinned(ns.strategy_source, ns.strategy_sha256)
    return RunSpec(
        source_bucket=ns.source_bucket,
        source_key=key,
        result_bucket=ns.result_bucket,
        strategy=ns.strategy,
        params=parse_params(ns.param),
        options=options_from_args(ns),
        run_id=check_run_id(ns.run_id) if ns.run_id else None,
        user=check_user(ns.user) or user,
        tags=parse_tags(ns.tag),
        strategy_source=ns.strategy_source,
        strategy_sha256=ns.strategy_sha256,
    )


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def args_from_spec(spec: RunSpec) -> list[str]:
    """The arguments :func:`spec_from_args` reads back as ``spec`` (non-default options only;
    user and tags last)."""
    args = [spec.source_bucket, spec.source_key, spec.result_bucket, "--strategy", spec.strategy]
    for key, value in sorted(spec.params.items()):
        args += ["--param", f"{key}={_format_value(value)}"]
    if spec.run_id:
        args += ["--run-id", spec.run_id]
    if spec.strategy_source and spec.strategy_sha256:
        args += [
            "--strategy-source",
            spec.strategy_source,
            "--strategy-sha256",
            spec.strategy_sha256,
        ]
    defaults = SimOptions()
    for f in fields(SimOptions):
        value = getattr(spec.options, f.name)
        if value == getattr(defaults, f.name) or value is None:
            continue
        if isinstance(value, bool):
            if value:
                args.append(option_flag(f.name))
            continue
        args += [option_flag(f.name), _format_value(value)]
    if spec.user:
        args += ["--user", spec.user]
    for key, value in sorted(spec.tags.items()):
        args += ["--tag", f"{key}={value}"]
    return args
