"""The engine CLI: the AWS Batch container's command (DESIGN.md "The engine CLI").

    python -m engine.backtest SOURCE_BUCKET SOURCE_KEY RESULT_BUCKET [options]
    python engine/backtest.py SOURCE_BUCKET SOURCE_KEY RESULT_BUCKET [options]
    python -m engine.backtest --sweep s3://BUCKET/sweeps/ID/spec.json [--round R]

The reference system's ``backtest.py SRC KEY DST`` wrote a two-line text file; the same three
arguments now run sma_cross(10, 50) and write DESIGN.md's result layout under
``runs/<run id>/`` (spec.json, metrics.json, equity.parquet, trades.parquet, then _SUCCESS).
The result prefix (``s3://DST/runs/<id>/``) is the last line on stdout.

Exit codes: 0 success; 2 bad input or arguments; 1 infrastructure (storage unreachable,
permissions, disk full) or an internal error. Failures print ONE line on stderr (a traceback
only for internal errors with ``BACKTEST_DEBUG=1``) and write ``runs/<id>/error.json`` when the
result bucket can be reached.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file: make the `engine` package importable
    _here = os.path.dirname(os.path.abspath(__file__))
    if os.path.isfile(os.path.join(_here, "__init__.py")):  # engine/backtest.py in a checkout
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
        sys.path.insert(0, os.path.dirname(_here))
    else:  # the image: backtest.py beside the engine/ package
        sys.path.insert(0, _here)

import traceback
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from engine.cli_args import build_parser, new_run_id, spec_from_args, stored_strategies_text
from engine.errors import BacktestError, InfraError
from engine.store.objects import StorageUnreachable, Store, open_store, validate_bucket
from engine.store.runs import (
    InputFile,
    RunFiles,
    make_spec_record,
    run_prefix,
    write_error,
    write_run,
)

if TYPE_CHECKING:
    import argparse

    from engine.spec import RunSpec


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def execute(spec: RunSpec, store: Store, env: Mapping[str, str]) -> str:
    """Validate, read the input, run, write the result layout; return the result prefix key.

    The strategy is a built-in, else the strategy file (its pinned copy for a rerun, else
    ``strategies/<NAME>.py`` of the source bucket); a file's source is stored with the run
    (``runs/<id>/strategy.py``) and its sha256 recorded in spec.json."""
    from engine.userstrat.pin import pinned_run_spec, provenance, strategy_for_spec

    strategy = strategy_for_spec(store, spec, env)
    params = strategy.validate(spec.params)
    options = spec.options.validate()
    run_id = spec.run_id or new_run_id(spec.strategy)
    data = store.get_bytes(spec.source_bucket, spec.source_key)
    info = store.head(spec.source_bucket, spec.source_key)

    from engine.api import run_backtest
    from engine.data import load_prices

    name = store.uri(spec.source_bucket, spec.source_key)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prices = load_prices(data, name=name, min_bars=strategy.warmup(params) + 1)
    result = run_backtest(prices, strategy, params, options=options)
    recorded, source = pinned_run_spec(store, spec, strategy, run_id)
    record = make_spec_record(
        recorded, params=params, input_file=InputFile(data, info), prices=prices, env=env
    )
    if source is not None:
        record["provenance"]["strategy"] = provenance(strategy, spec, store)
    prefix = write_run(store, spec.result_bucket, run_id, RunFiles(record, result, source))
    for w in caught:  # after success only: a failure prints exactly one line
        _say(f"warning: {' '.join(str(w.message).split())}")
    return prefix


def _record_failure(
    store: Store | None,
    bucket: str | None,
    run_id: str | None,
    failure: tuple[BaseException, str],
    env: Mapping[str, str],
) -> None:
    """Best effort error.json: skipped when the store is unreachable or the names are bad."""
    exc, kind = failure
    if store is None or bucket is None or run_id is None or isinstance(exc, StorageUnreachable):
        return
    try:
        validate_bucket(bucket)
        run_prefix(run_id)
        write_error(store, bucket, run_id, exc, kind)
    except Exception as err:  # the original failure is what the user must see
        if env.get("BACKTEST_DEBUG") == "1":
            _say(f"note: could not write error.json: {err}")


def guarded(
    body: Callable[[], int],
    on_failure: Callable[[BaseException, str], None] | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run ``body`` and turn every failure into an exit code and one stderr line."""
    env = os.environ if env is None else env
    failure: BaseException
    try:
        return body()
    except BacktestError as exc:
        _say(f"error: {exc}")
        code, kind, failure = 2, exc.kind, exc
    except InfraError as exc:
        _say(f"error: {exc}")
        code, kind, failure = 1, exc.kind, exc
    except Exception as exc:
        _say(f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}")
        if env.get("BACKTEST_DEBUG") == "1":
            traceback.print_exc()
        code, kind, failure = 1, "internal", exc
    if on_failure is not None:
        on_failure(failure, kind)
    return code


def run_single(ns: argparse.Namespace, env: Mapping[str, str]) -> int:
    """One backtest from parsed arguments (error.json on failure where possible)."""
    ns.run_id = ns.run_id or new_run_id(ns.strategy)
    state: dict[str, Store] = {}

    def body() -> int:
        state["store"] = store = open_store(env)  # first, so bad options still get error.json
        spec = spec_from_args(ns)
        prefix = execute(spec, store, env)
        print(store.uri(spec.result_bucket, prefix), flush=True)
        return 0

    def on_failure(exc: BaseException, kind: str) -> None:
        _record_failure(state.get("store"), ns.result_bucket, ns.run_id, (exc, kind), env)

    return guarded(body, on_failure, env)


def run_sweep(uri: str, env: Mapping[str, str], round_: int | None = None) -> int:
    """``--sweep URI [--round R]``: run this array child's chunk
    (engine.sweep.child.run_sweep_child; R: a TPE search's round)."""
    from engine.sweep.child import run_sweep_child  # numba's import is only paid by sweeps

    return guarded(lambda: int(run_sweep_child(uri, env, round_)), env=env)


def _first_positional(args: list[str]) -> str | None:
    """SOURCE_BUCKET when it comes first (``SRC --help``), else None."""
    return args[0] if args and not args[0].startswith("-") else None


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Parse ``argv`` and run; returns the exit code."""
    env = os.environ if env is None else env
    holder: dict[str, argparse.Namespace] = {}

    args = sys.argv[1:] if argv is None else list(argv)

    def parse() -> int:
        epilog = None
        if "-h" in args or "--help" in args:  # list the source bucket's strategy files too
            epilog = stored_strategies_text(env, _first_positional(args))
        holder["ns"] = build_parser(epilog=epilog).parse_args(args)
        return 0

    try:
        code = guarded(parse, env=env)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if code:
        return code
    ns = holder["ns"]
    if ns.list_strategies:  # with SOURCE_BUCKET: its strategy files too
        print(stored_strategies_text(env, ns.source_bucket))
        return 0
    if ns.sweep:
        if ns.source_bucket is not None:
            _say("error: --sweep takes no SOURCE_BUCKET/SOURCE_KEY/RESULT_BUCKET")
            return 2
        return run_sweep(ns.sweep, env, ns.round)
    if ns.round is not None:
        _say("error: --round R goes with --sweep s3://BUCKET/sweeps/ID/spec.json (a TPE round)")
        return 2
    return run_single(ns, env)


if __name__ == "__main__":
    sys.exit(main())
