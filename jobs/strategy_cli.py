"""`python -m jobs strategy add FILE | ls | show NAME | rm NAME`: the team's strategy files.

A strategy file lives at ``strategies/<NAME>.py`` (with its ``.json`` sidecar: schema, sha256,
who and when) in the input bucket, so a Batch container reads the very bytes validated here.
``add`` validates the file in a subprocess (time and memory limits) before anything is stored;
a refused file is not stored. This process never imports a strategy file: ``ls``/``show`` and the
``--strategy`` checks of ``submit`` read the sidecar's schema (a ``sweep`` is checked and counted
with the file's rules in an engine subprocess, :mod:`jobs.stored_sweep`). Errors are one line on
stderr (exit 2 for bad input, 1 for infrastructure), as for every `python -m jobs` command.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from engine.errors import BacktestError, NotFoundError, ParamError
from engine.sim.strategies import STRATEGIES, Param
from engine.spec import RunSpec
from engine.store.objects import Store
from jobs.settings import Settings

WIDTH = 96
SHA_SHORT = 12


class _StrategyParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, naming the full subcommand
        raise BacktestError(f"{message} (see {self.prog} --help)")


def add_strategy_parser(sub: Any) -> None:
    """Register ``strategy`` and its subcommands on the `python -m jobs` subparsers."""
    p = sub.add_parser(
        "strategy",
        help="add, list, show or remove strategy files (strategies/<NAME>.py, input bucket)",
        description="Strategy files of the input bucket; see the README's strategy contract.",
    )
    ssub = p.add_subparsers(dest="strategy_command", required=True, parser_class=_StrategyParser)
    add = ssub.add_parser("add", help="validate a strategy file, then upload it")
    add.add_argument("file", metavar="FILE", help="a .py file following the strategy contract")
    add.add_argument(
        "--overwrite", action="store_true", help="replace a stored strategy of the same NAME"
    )
    add.add_argument("--user", help="who adds it (default: the user setting, else the OS user)")
    ssub.add_parser("ls", help="stored strategies: description, parameters, sha256, who/when")
    ssub.add_parser("show", help="one strategy's schema and source").add_argument("name")
    rm = ssub.add_parser("rm", help="remove a stored strategy (asks unless --yes)")
    rm.add_argument("name")
    rm.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rm.add_argument("--user", help="who removes it (default: the user setting, else the OS user)")


# -- formatting ---------------------------------------------------------------------------------


def param_line(p: Param) -> str:
    """``window=15  [int 2..500]  SMA window, bars``."""
    default = str(p.default).lower() if isinstance(p.default, bool) else p.default
    return f"{p.name}={default}  [{p.allowed()}]  {p.help}".rstrip()


def describe(info: Any, *, indent: str = "    ") -> list[str]:
    """A stored strategy's header, description, parameters and rules (``ls``/``show``)."""
    lines = [
        f"{info.name}  sha256 {str(info.sha256)[:SHA_SHORT]}  added by {info.added_by or '-'} "
        f"at {info.added_at or '-'}"
    ]
    lines += textwrap.wrap(
        str(info.description), WIDTH, initial_indent=indent, subsequent_indent=indent
    ) or [f"{indent}(no description)"]
    lines += [indent + param_line(p) for p in info.params] or [f"{indent}(no parameters)"]
    lines += [f"{indent}rule: {c}" for c in info.constraints]
    return lines


def strategies_epilog(store: Store | None, bucket: str) -> str:
    """``--help`` text for submit/sweep: built-ins, then the stored strategies' schemas (the
    engine CLI's one listing, :func:`engine.cli_args.strategies_text`)."""
    from engine.cli_args import strategies_text

    if store is None:
        return strategies_text(None, f"{bucket} is not reachable, so they are not listed")
    from engine.userstrat import list_strategies as stored

    try:
        infos = stored(store, bucket)
    except BacktestError as exc:  # help must not fail: say why the list is missing
        return strategies_text(None, f"not listed: {exc}")
    return strategies_text(infos, store.uri(bucket, "strategies/"))


# -- schema checks for submit/sweep -------------------------------------------------------------


def stored_info(store: Store, bucket: str, name: str) -> Any:
    """The stored strategy ``name``'s sidecar (StrategyInfo); ParamError naming the known ones."""
    from engine.userstrat import get_strategy as get_stored
    from engine.userstrat import list_strategies as stored

    try:
        return get_stored(store, bucket, name)
    except NotFoundError:
        known = sorted(STRATEGIES) + [i.name for i in stored(store, bucket)]
        raise ParamError(
            f"unknown strategy {name!r}: not a built-in and no strategies/{name}.py in "
            f"{bucket!r}; known strategies: {', '.join(known)}"
        ) from None


def check_params(name: str, params: Mapping[str, Any], schema: tuple[Param, ...]) -> None:
    """Every given parameter is in the schema and within its bounds; ParamError otherwise."""
    known = {p.name: p for p in schema}
    for key, value in params.items():
        if key not in known:
            names = ", ".join(known) or "none"
            raise ParamError(f"{name} has no parameter {key!r}; known parameters: {names}")
        try:
            known[key].check(value)
        except ParamError as exc:
            raise ParamError(f"{name}: {exc}") from None


def checked_specs(store: Store, specs: Sequence[RunSpec]) -> list[RunSpec]:
    """The runs of a submit, checked before any is submitted: a built-in's full validation,
    else the stored file's schema (its rules are checked by the engine run, which loads the
    file); a stored file's runs are pinned to the bytes read for the check (strategy_source =
    ``strategies/<NAME>.py`` and its sha256), unless the command line pinned them already."""
    out = []
    for spec in specs:
        if spec.strategy in STRATEGIES:
            STRATEGIES[spec.strategy].validate(spec.params)
            out.append(spec)
            continue
        info = stored_info(store, spec.source_bucket, spec.strategy)
        check_params(spec.strategy, spec.params, tuple(info.params))
        if spec.strategy_source is not None:  # --strategy-source given: that copy runs
            out.append(spec)
            continue
        from engine.userstrat import source_key

        where = store.uri(spec.source_bucket, source_key(spec.strategy))
        out.append(replace(spec, strategy_source=where, strategy_sha256=info.sha256))
    return out


# -- commands -----------------------------------------------------------------------------------


def read_source(path: str) -> str:
    """The file's text; one line when it cannot be read or is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ParamError(f"{path}: not UTF-8 text; save the strategy file as UTF-8") from None
    except OSError as exc:
        raise ParamError(f"cannot read {path}: {exc.strerror or exc}") from None


def cmd_add(store: Store, bucket: str, ns: argparse.Namespace, user: str) -> int:
    """Validate (subprocess), then store; print what was stored."""
    from engine.userstrat import put_strategy

    source = read_source(ns.file)
    # validates first (a subprocess): a refusal is one line naming the file; nothing is stored
    info = put_strategy(
        store, bucket, source, user=user, overwrite=ns.overwrite, filename=Path(ns.file).name
    )
    print(f"stored strategies/{info.name}.py in {bucket!r}")
    for line in describe(info):
        print(line)
    return 0


def cmd_ls(store: Store, bucket: str) -> int:
    """Every stored strategy, name order; a note on stderr when there are none."""
    from engine.userstrat import list_strategies as stored

    infos = stored(store, bucket)
    if not infos:
        print(f"no stored strategies in {bucket!r} (built-ins: {', '.join(sorted(STRATEGIES))})",
              file=sys.stderr)  # fmt: skip
    for info in infos:
        for line in describe(info):
            print(line)
    return 0


def cmd_show(store: Store, bucket: str, name: str) -> int:
    """A built-in's schema, or a stored strategy's schema followed by its exact source."""
    if name in STRATEGIES:
        strat = STRATEGIES[name]
        print(f"{name}  (built-in)")
        print(f"    {strat.description}")
        for p in strat.params:
            print(f"    {param_line(p)}")
        for c in strat.constraints:
            print(f"    rule: {c.message}")
        return 0
    info = stored_info(store, bucket, name)
    for line in describe(info):
        print(line)
    print(f"--- strategies/{info.name}.py (sha256 {info.sha256})")
    sys.stdout.write(info.source if info.source.endswith("\n") else info.source + "\n")
    return 0


def cmd_rm(
    store: Store,
    bucket: str,
    ns: argparse.Namespace,
    user: str,
    ask: Callable[[str], str] = input,
) -> int:
    """Remove after a yes (or with --yes); anything but y/yes keeps the file (exit 1)."""
    from engine.userstrat import delete_strategy

    if ns.name in STRATEGIES:
        raise ParamError(f"{ns.name} is a built-in strategy; only stored strategies can be removed")
    info = stored_info(store, bucket, ns.name)
    if not ns.yes:
        question = (
            f"remove strategies/{info.name}.py (sha256 {info.sha256[:SHA_SHORT]}, added by "
            f"{info.added_by or '-'}) from {bucket!r}? [y/N] "
        )
        try:
            answer = ask(question)
        except EOFError:
            raise ParamError(
                f"strategy rm {ns.name}: no answer to the confirmation; pass --yes to remove "
                "without asking"
            ) from None
        if answer.strip().lower() not in ("y", "yes"):
            print(f"kept strategies/{info.name}.py", file=sys.stderr)
            return 1
    delete_strategy(store, bucket, info.name, user=user)
    print(f"removed strategies/{info.name}.py from {bucket!r}")
    return 0


def run_strategy_command(ns: argparse.Namespace, settings: Settings) -> int:
    """Dispatch ``python -m jobs strategy ...`` (input bucket and store from the settings)."""
    from engine.cli_args import check_user
    from jobs.base import default_user
    from jobs.factory import make_store

    store = make_store(settings)
    bucket = settings.input_bucket
    command = ns.strategy_command
    if command in ("add", "rm"):
        user = check_user(ns.user) or default_user(settings.user)
        if command == "add":
            return cmd_add(store, bucket, ns, user)
        return cmd_rm(store, bucket, ns, user)
    if command == "ls":
        return cmd_ls(store, bucket)
    return cmd_show(store, bucket, ns.name)


def help_epilog() -> str:
    """:func:`strategies_epilog` for the settings' input bucket (what `--strategy` looks in by
    default); the built-ins alone, with the reason, when the store cannot be opened."""
    from engine.errors import ProjectError
    from jobs.factory import make_store
    from jobs.settings import load_settings

    try:
        settings = load_settings()
        store: Store | None = make_store(settings)
        bucket = settings.input_bucket
    except ProjectError:
        store, bucket = None, "the input bucket"
    return strategies_epilog(store, bucket)


def lazy_strategy_help(parser: argparse.ArgumentParser) -> None:
    """Make ``parser``'s ``--help`` end with every strategy and its parameters, the stored ones
    read from their sidecars only when help is asked for (not on every command)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    plain = parser.format_help

    def format_help() -> str:
        parser.epilog = help_epilog()
        return plain()

    parser.format_help = format_help  # type: ignore[method-assign]
