"""The jobs CLI's sweep modes and TPE search commands.

``python -m jobs sweep ... --mode tpe --n 200 [--round-size 32] [--objective sharpe,max_drawdown]
[--seed 7]`` submits a budgeted search (``--mode random --n 100 --seed 7`` a random sample);
``python -m jobs search-step URI --round R`` is what a step job runs (and how a stopped search is
continued by hand; ``--round -1`` asks round 0, a stored strategy file's first step);
``python -m jobs search-status SWEEP_ID [--wait]`` prints its progress.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from engine.errors import ParamError
from engine.sweep.search_spec import DEFAULT_ROUND_SIZE, OBJECTIVE_METRICS, SearchSpec
from jobs.base import Executor
from jobs.settings import Settings

MODES = ("grid", "random", "tpe")


def add_mode_options(parser: Any) -> None:
    """``--mode``, ``--n``, ``--seed``, ``--round-size``, ``--objective`` on ``jobs sweep``."""
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="grid",
        help="grid: every combination (default); random: --n combinations drawn with --seed; "
        "tpe: a model-based search (optuna TPE) of --n trials in rounds of --round-size",
    )
    parser.add_argument(
        "--n",
        "--budget",
        dest="n",
        type=int,
        metavar="N",
        help="random: combinations drawn; tpe: the budget, total trials over every round",
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="random/tpe: seed (the same spec and seed ask the same combinations; default 0)",
    )
    parser.add_argument(
        "--round-size",
        type=int,
        metavar="N",
        help=f"tpe: trials per round, one array job each (default {DEFAULT_ROUND_SIZE})",
    )
    parser.add_argument(
        "--objective",
        metavar="METRIC[,METRIC]",
        help="tpe: one or two metrics to optimise, e.g. sharpe or sharpe,max_drawdown (a "
        "Pareto front); each metric's own direction (sharpe up, drawdown down); default "
        f"sharpe; one of {', '.join(OBJECTIVE_METRICS)}",
    )


def mode_fields(ns: argparse.Namespace) -> dict[str, Any]:
    """SweepRequest's mode, n, seed and search from the options; ParamError for a flag that
    does not apply to the mode chosen."""
    mode = ns.mode or "grid"
    if mode == "grid":
        used = [f for f, v in (("--n", ns.n), ("--seed", ns.seed)) if v is not None]
        if used:
            raise ParamError(
                f"{' and '.join(used)} {_verb(used)} to --mode random or tpe, not grid"
            )
    if mode != "tpe":
        used = [f for f, v in (("--round-size", ns.round_size), ("--objective", ns.objective)) if v]
        if used:
            raise ParamError(f"{' and '.join(used)} {_verb(used)} to --mode tpe only")
        return {"mode": mode, "n": ns.n, "seed": ns.seed or 0}
    if ns.n is None:
        raise ParamError("--mode tpe needs --n N, the budget (total trials), e.g. --n 200")
    if getattr(ns, "children", None) is not None:
        raise ParamError("--children does not apply to --mode tpe (rounds set the arrays)")
    if getattr(ns, "walk_forward", None):
        raise ParamError("--mode tpe cannot be a walk-forward sweep; drop --walk-forward")
    value: dict[str, Any] = {}
    if ns.round_size is not None:
        value["round_size"] = ns.round_size
    if ns.objective is not None:
        value["objectives"] = ns.objective
    search = SearchSpec.from_value(value)
    return {"mode": "tpe", "n": ns.n, "seed": ns.seed or 0, "search": search}


def _verb(flags: list[str]) -> str:
    return "applies" if len(flags) == 1 else "apply"


def add_search_commands(sub: Any) -> None:
    """``search-step`` and ``search-status``."""
    p = sub.add_parser(
        "search-step",
        help="tell a TPE search's round R and submit round R+1 (what its step job runs; "
        "run it by hand to continue a stopped search)",
    )
    p.add_argument("spec_uri", metavar="URI", help="s3://BUCKET/sweeps/ID/spec.json")
    p.add_argument(
        "--round",
        type=int,
        required=True,
        metavar="R",
        help="the round to tell; -1 tells nothing and asks round 0 (a stored strategy file's "
        "search: its first step job loads the pinned file and asks round 0 there)",
    )
    p = sub.add_parser("search-status", help="a TPE search's rounds, trials and state")
    p.add_argument("sweep_id", help="the sweep's id (its folder under sweeps/)")
    p.add_argument("--bucket", help="result bucket (default: the result_bucket setting)")
    p.add_argument("--json", action="store_true", help="the progress as one JSON object")
    p.add_argument("--wait", action="store_true", help="until done or stopped; exit 0 if done")
    p.add_argument("--timeout", type=float, help="with --wait: give up after this many seconds")


def print_submission(sub: Any, result_bucket: str) -> None:
    """What ``jobs sweep --mode tpe`` prints; the sweep id last. ``result_bucket``: the
    setting; a search written elsewhere gets ``--bucket`` in its status command."""
    layout = sub.layout
    budget = f"budget {layout.budget} trials"
    if sub.budget_requested != layout.budget:
        budget = (
            f"budget {layout.budget} trials (asked {sub.budget_requested}; the space has only "
            f"{sub.valid_combinations} valid combinations, each tried once)"
        )
    kind = f"array of {layout.children(0)}" if layout.children(0) > 1 else "one plain job"
    print(
        f"submitted TPE search {sub.sweep_id}: {budget} in "
        f"{layout.n_rounds} round{'' if layout.n_rounds == 1 else 's'} of "
        f"{layout.round_size} ({layout.chunk_size} per child) -> {sub.spec_uri}"
    )
    if sub.array is None:  # a stored strategy file: its rules run in the step job only
        print(
            f"first step job {sub.step.id}: loads the pinned strategy file, asks round 0 and "
            f"submits its {kind}; each step tells a round and submits the next; the last "
            "step collects"
        )
    else:
        print(f"round 0: {kind}, job {sub.array.id}")
        print(f"step job {sub.step.id}: tells round 0 and submits round 1; the last step collects")
    bucket = sub.spec_uri[len("s3://") :].split("/", 1)[0]
    where = "" if bucket == result_bucket else f" --bucket {bucket}"
    print(f"progress: python -m jobs search-status {sub.sweep_id}{where} [--wait]")
    print(sub.sweep_id)


def cmd_search_step(executor: Executor, ns: argparse.Namespace, settings: Settings) -> int:
    """Run one step; by hand (no AWS_BATCH_JOB_ID) an incomplete round is submitted again."""
    from jobs.factory import make_store
    from jobs.search_jobs import run_step

    by_hand = not os.environ.get("AWS_BATCH_JOB_ID")
    result = run_step(executor, make_store(settings), ns.spec_uri, ns.round, by_hand=by_hand)
    print(result.message)
    return 0


def cmd_search_status(executor: Executor, ns: argparse.Namespace, settings: Settings) -> int:
    """Print the progress (once, or until done/stopped with --wait)."""
    from jobs.factory import make_store
    from jobs.search_jobs import progress_line, search_progress

    store = make_store(settings)
    bucket = ns.bucket or settings.result_bucket
    deadline = None if ns.timeout is None else time.monotonic() + ns.timeout
    while True:
        progress = search_progress(store, bucket, ns.sweep_id, executor)
        ended = progress.state in ("done", "stopped")
        late = deadline is not None and time.monotonic() >= deadline
        if not ns.wait or ended or late:
            break
        time.sleep(max(settings.poll_ms / 1000.0, 0.2))
    print(json.dumps(progress.to_dict()) if ns.json else progress_line(progress))
    return 0 if (not ns.wait or progress.state == "done") else 1


__all__ = [
    "add_mode_options",
    "add_search_commands",
    "cmd_search_status",
    "cmd_search_step",
    "mode_fields",
    "print_submission",
]
