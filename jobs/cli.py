"""`python -m jobs ...`: submit, sweep, ls, show, logs, cancel, terminate, retry, wait, config,
worker, strategy, search-step, search-status. Errors are one line on stderr: exit 2 for bad
input, 1 for infrastructure."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.cli_args import add_run_options, options_from_args, source_keys, spec_from_args
from engine.errors import BacktestError, InfraError, ParamError
from engine.spec import RunSpec
from engine.sweep.spec import ParamSpace
from jobs.base import Executor
from jobs.model import JobRecord, JobStatus
from jobs.search_cli import (
    add_mode_options,
    add_search_commands,
    cmd_search_status,
    cmd_search_step,
    mode_fields,
    print_submission,
)
from jobs.settings import Settings, env_var, settings_with_sources
from jobs.strategy_cli import (
    add_strategy_parser,
    lazy_strategy_help,
    run_strategy_command,
)
from jobs.sweeps import add_walk_forward_options, walk_forward_from_args, walk_forward_line

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit 2 with usage; keep one line
        raise BacktestError(f"{message} (see {self.prog} --help)")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        """As argparse, but an unknown option names the subcommand's help, not the top one's
        (argparse reports it from the top parser: "see python -m jobs --help" helps nobody)."""
        ns, extras = self.parse_known_args(args, namespace)
        if extras:
            named = (getattr(ns, "command", None), getattr(ns, "strategy_command", None))
            words = [w for w in named if w]
            raise BacktestError(
                f"unrecognized arguments: {' '.join(extras)} "
                f"(see {' '.join([self.prog, *words])} --help)"
            )
        return ns


# -- argument helpers --------------------------------------------------------------------------


def parse_when(text: str) -> datetime:
    """An ISO time ('2024-05-01', '2024-05-01T12:00') or an age ('30m', '2h', '7d')."""
    unit = text[-1:].lower()
    if unit in DURATION_UNITS and text[:-1].replace(".", "", 1).isdigit():
        return datetime.now(UTC) - timedelta(seconds=float(text[:-1]) * DURATION_UNITS[unit])
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BacktestError(
            f"bad time {text!r}: use ISO (2024-05-01T12:00) or an age (2h)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def specs_from_args(ns: argparse.Namespace, user: str | None = None) -> list[RunSpec]:
    """The RunSpecs `python -m jobs submit` describes: one per SOURCE_KEY."""
    keys = source_keys(ns)
    if len(keys) > 1:
        for flag, value in (("--run-id", ns.run_id), ("--name", getattr(ns, "name", None))):
            if value:
                raise ParamError(
                    f"{flag} names one job; with {len(keys)} files leave it out (each run gets "
                    "its own)"
                )
    return [spec_from_args(ns, key=key, user=user) for key in keys]


# -- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The `python -m jobs` parser."""
    parser = _Parser(prog="python -m jobs", description="Submit and watch backtest jobs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("submit", help="submit one run per file; prints the job ids last")
    add_run_options(p, many_keys=True)
    lazy_strategy_help(p)  # --help lists built-in and stored strategies
    p.add_argument("--name", help="job name (default: run-<run id>)")
    p = sub.add_parser("sweep", help="submit a parameter sweep (array job + collect)")
    add_run_options(p, many_keys=True, per_run=False)
    lazy_strategy_help(p)
    p.add_argument("--range", action="append", default=[], metavar="NAME=START:STOP:STEP")
    p.add_argument("--values", action="append", default=[], metavar="NAME=A,B,C")
    p.add_argument("--sweep-id", help="sweep folder name (default: generated)")
    p.add_argument("--children", type=int, help="split into this many chunks (default: timed)")
    p.add_argument(
        "--target-child-seconds", type=float, help="planned work per child (default 120)"
    )
    p.add_argument("--top-n", type=int, help="best combinations re-run as runs (default 10)")
    add_walk_forward_options(p)  # --walk-forward, --anchored, --wf-*, --no-holdout (HF)
    add_mode_options(p)  # --mode grid|random|tpe, --n, --seed, --round-size, --objective
    p = sub.add_parser("ls", help="list jobs, newest first")
    p.add_argument("--status", help="only this status (RUNNING, FAILED, ...)")
    p.add_argument("--name-prefix", help="only names starting with this")
    p.add_argument("--since", help="created at/after: ISO time or age (2h, 7d)")
    p.add_argument("--until", help="created before: ISO time or age")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument("--children", metavar="PARENT_ID", help="list an array job's children")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    for name, text in (("show", "one job as JSON"), ("cancel", "cancel a queued job")):
        sub.add_parser(name, help=text).add_argument("job_id")
    p = sub.add_parser("terminate", help="stop a job in any state")
    p.add_argument("job_id")
    p.add_argument("--reason", default="Terminated by user")
    p = sub.add_parser("logs", help="a job's output")
    p.add_argument("job_id")
    p.add_argument("--tail", type=int, help="only the last N lines")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until it ends")
    sub.add_parser("retry", help="submit a finished job again").add_argument("job_id")
    p = sub.add_parser("wait", help="wait for a job; exit 0 only on SUCCEEDED")
    p.add_argument("job_id")
    p.add_argument("--timeout", type=float, help="give up after this many seconds (exit 1)")
    p = sub.add_parser("resume", help="rerun a failed sweep's missing chunks, then collect")
    p.add_argument("sweep_id", help="the sweep's id (its folder under sweeps/)")
    p.add_argument("--bucket", help="result bucket (default: the result_bucket setting)")
    add_search_commands(sub)  # search-step URI --round R, search-status SWEEP_ID
    sub.add_parser("config", help="resolved settings and where each came from")
    add_strategy_parser(sub)
    p = sub.add_parser("worker", help="run the local worker in the foreground")
    p.add_argument("--idle-exit", type=float, help="exit after this many idle seconds (0: never)")
    return parser


# -- commands ----------------------------------------------------------------------------------


def _fmt_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def format_row(record: JobRecord) -> str:
    """One `ls` line."""
    counts = ""
    if record.status_counts:
        counts = " [" + " ".join(f"{k}={v}" for k, v in sorted(record.status_counts.items())) + "]"
    reason = f"  {record.status_reason}" if record.status_reason else ""
    return (
        f"{record.id:<40} {record.name[:32]:<32} {record.kind.value:<7} "
        f"{record.status.value:<9} {_fmt_time(record.created_at)}{counts}{reason}"
    )


def cmd_config(settings: Settings, where: dict[str, str]) -> int:
    """Print every setting, its value and its source."""
    for f in fields(Settings):
        value = getattr(settings, f.name)
        print(f"{f.name:<24} = {value!r:<40} # {where[f.name]} ({env_var(f.name)})")
    if settings.backend == "local":
        from jobs.local import jobs_dir_for

        print(f"{'(local jobs folder)':<24} = {str(jobs_dir_for(settings))!r}")
    return 0


def cmd_worker(settings: Settings, idle_exit: float | None) -> int:
    """Run a worker in this process until idle (or forever with --idle-exit 0)."""
    from dataclasses import replace

    from jobs.local import LocalExecutor
    from jobs.worker import Worker

    local = LocalExecutor(settings, worker="none")
    idle = float(settings.worker_idle) if idle_exit is None else idle_exit
    worker = Worker(local.table, replace(local.config, idle_exit=idle or None, exit_when_gone=True))
    if not worker.lease.acquire():
        print("another worker holds the lease; exiting", file=sys.stderr)
        return 0
    worker.recover()
    worker.run(threading.Event())
    return 0


def sweep_space(ranges: Sequence[str], lists: Sequence[str]) -> dict[str, ParamSpace]:
    """--range NAME=START:STOP:STEP and --values NAME=A,B,C as the sweep's space (ParamSpace
    parses and checks the text; values are typed against the strategy when the spec validates)."""
    space: dict[str, ParamSpace] = {}
    for flag, items in (("--range", ranges), ("--values", lists)):
        for item in items:
            name, sep, body = (part.strip() for part in item.partition("="))
            if not sep or not name or not body or (flag == "--range") != (":" in body):
                form = "NAME=START:STOP:STEP" if flag == "--range" else "NAME=A,B,C"
                raise ParamError(f"{flag} takes {form}, got {item!r}")
            if name in space:
                raise ParamError(f"parameter {name!r} is given twice")
            space[name] = ParamSpace.parse(body, name)
    if not space:
        raise ParamError("a sweep needs at least one --range or --values")
    return space


def cmd_sweep(executor: Executor, ns: argparse.Namespace, settings: Settings) -> int:
    """Build the sweep, submit it; print the plan and the collect job id last.

    ``python -m jobs wait <last line>`` returns once the collect job has written the summary.
    """
    from jobs.factory import make_store
    from jobs.sweeps import SweepRequest, build_sweep_spec, submit_sweep_jobs

    request = SweepRequest(
        ns.source_bucket,
        source_keys(ns),
        ns.result_bucket,
        ns.strategy,
        sweep_space(ns.range, ns.values),
        options=options_from_args(ns),
        sweep_id=ns.sweep_id,
        top_n=ns.top_n,
        target_child_seconds=ns.target_child_seconds,
        holdout=not ns.no_holdout,
        walk_forward=walk_forward_from_args(ns),
        **mode_fields(ns),
    )
    spec = build_sweep_spec(request)
    if spec.mode == "tpe":
        from jobs.search_jobs import submit_search

        submitted = submit_search(executor, make_store(settings), spec)
        print_submission(submitted, settings.result_bucket)
        return 0
    sub = submit_sweep_jobs(executor, make_store(settings), spec, n_children=ns.children)
    kind = f"array of {sub.plan.n_children}" if sub.plan.is_array else "one plain job"
    print(
        f"submitted sweep {sub.sweep_id}: {sub.n_combinations} combinations x {sub.n_files} "
        f"file(s) in {kind} ({sub.plan.chunk_size} per child) -> {sub.spec_uri}"
    )
    if sub.walk_forward_children:  # the same array, after the plan's children (HF)
        print(walk_forward_line(sub))
    print(f"sweep job {sub.array.id}")
    print(f"collect job (wait for this one) {sub.collect.id}")
    print(sub.collect.id)
    return 0


def cmd_resume(executor: Executor, ns: argparse.Namespace, settings: Settings) -> int:
    """Rerun the sweep's chunks that have no chunk parquet, then collect; collect id last."""
    from jobs.factory import make_store
    from jobs.resume import resume_sweep

    bucket = ns.bucket or settings.result_bucket
    resumed = resume_sweep(executor, make_store(settings), bucket, ns.sweep_id)
    print(resumed.summary())
    print(resumed.collect.id)
    return 0


def cmd_submit(executor: Executor, ns: argparse.Namespace, settings: Settings) -> int:
    """Submit every run the arguments describe; print each, then the job ids."""
    records = []
    specs = specs_from_args(ns)  # all parsed and checked before the first submit
    from jobs.factory import make_store
    from jobs.rerun_copy import checked_submit_specs

    # a stored file: pinned to its sha256; --strategy-source (a rerun): checked against that copy
    specs = checked_submit_specs(make_store(settings), specs)
    for spec in specs:
        record = executor.submit_run(spec, name=ns.name)
        print(f"submitted {record.kind.value} {record.name} -> {record.result_prefix}")
        records.append(record)
    for record in records:
        print(record.id)
    return 0


def cmd_ls(executor: Executor, ns: argparse.Namespace, settings: Settings) -> int:
    """List jobs, one row (or JSON object) a line."""
    records = executor.list(
        ns.status,
        name_prefix=ns.name_prefix,
        since=parse_when(ns.since) if ns.since else None,
        until=parse_when(ns.until) if ns.until else None,
        limit=ns.limit,
        parent_id=ns.children,
    )
    for record in records:
        print(json.dumps(record.to_dict()) if ns.json else format_row(record))
    return 0


def cmd_show(executor: Executor, ns: argparse.Namespace, settings: Settings) -> int:
    """Print one job's record as JSON."""
    print(json.dumps(executor.get(ns.job_id).to_dict(), indent=2))
    return 0


def cmd_logs(executor: Executor, ns: argparse.Namespace, settings: Settings) -> int:
    """Print a job's log (its tail), or follow it."""
    if ns.follow:
        for line in executor.follow(ns.job_id):
            print(line, flush=True)
    else:
        sys.stdout.write(executor.logs(ns.job_id, tail=ns.tail))
    return 0


def cmd_cancel(executor: Executor, ns: argparse.Namespace, settings: Settings) -> int:
    """Cancel a job; print its row."""
    print(format_row(executor.cancel(ns.job_id)))
    return 0


def cmd_terminate(executor: Executor, ns: argparse.Namespace, settings: Settings) -> int:
    """Terminate a job; print its row."""
    print(format_row(executor.terminate(ns.job_id, ns.reason)))
    return 0


def cmd_retry(executor: Executor, ns: argparse.Namespace, settings: Settings) -> int:
    """Submit a job again; print the new job's id."""
    print(executor.retry(ns.job_id).id)
    return 0


def cmd_wait(executor: Executor, ns: argparse.Namespace, settings: Settings) -> int:
    """Wait for a job; exit 1 unless it SUCCEEDED."""
    record = executor.wait(ns.job_id, timeout=ns.timeout)
    print(format_row(record))
    if record.status is not JobStatus.SUCCEEDED:
        still = "" if record.is_terminal else " (timed out waiting)"
        print(f"job {record.id} is {record.status.value}{still}", file=sys.stderr)
        return 1
    return 0


COMMANDS: dict[str, Callable[[Executor, argparse.Namespace, Settings], int]] = {
    "submit": cmd_submit,
    "sweep": cmd_sweep,
    "ls": cmd_ls,
    "show": cmd_show,
    "logs": cmd_logs,
    "cancel": cmd_cancel,
    "terminate": cmd_terminate,
    "retry": cmd_retry,
    "resume": cmd_resume,
    "wait": cmd_wait,
    "search-step": cmd_search_step,
    "search-status": cmd_search_status,
}


def run_command(ns: argparse.Namespace, settings: Settings, executor: Executor) -> int:
    """Dispatch one parsed command that needs an executor."""
    command = COMMANDS.get(ns.command)
    return command(executor, ns, settings) if command is not None else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    try:
        ns = build_parser().parse_args(argv)
        settings, where = settings_with_sources()
        if ns.command == "config":
            return cmd_config(settings, where)
        if ns.command == "worker":
            return cmd_worker(settings, ns.idle_exit)
        if ns.command == "strategy":
            return run_strategy_command(ns, settings)
        from jobs.factory import make_executor

        executor = make_executor(settings, worker="process")
        return run_command(ns, settings, executor)
    except BacktestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
