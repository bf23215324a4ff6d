"""`python -m jobs` as real subprocesses (auto-started worker), plus its argument parsing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli_args import args_from_spec, parse_params
from engine.errors import BacktestError, ParamError
from engine.sim.synthetic import random_walk
from jobs.cli import build_parser, spec_from_args, sweep_space
from jobs.local import LocalExecutor
from jobs.model import JobStatus, check_job_name, safe_job_name
from jobs.settings import Settings


def cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m jobs ARGS`` from a folder outside the checkout (the venv installs the
    project, so neither the CLI nor the worker it starts needs the checkout or PYTHONPATH)."""
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args],
        cwd=Path(env["BACKTEST_STORAGE_ROOT"]).parent,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    root = tmp_path / "store"
    (root / "input").mkdir(parents=True)
    (root / "results").mkdir()
    random_walk(300, seed=5).to_csv(root / "input" / "prices.csv")
    out = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out.update(
        BACKTEST_STORAGE_ROOT=str(root),
        BACKTEST_POLL_MS="50",
        BACKTEST_WORKER_IDLE="2",
        BACKTEST_CONCURRENCY="2",
    )
    return out


def test_submit_then_wait_auto_starts_a_worker(env: dict[str, str], tmp_path: Path) -> None:
    sub = cli(
        "submit", "input", "prices.csv", "results", "--param", "fast=5", "--param", "slow=20",
        "--run-id", "cli1", "--commission", "0.002", "--user", "dana@example.com",
        "--tag", "project=alpha", env=env,
    )  # fmt: skip
    assert sub.returncode == 0, sub.stderr
    job_id = sub.stdout.strip().splitlines()[-1]
    waited = cli("wait", job_id, "--timeout", "120", env=env)
    assert waited.returncode == 0, waited.stderr + waited.stdout
    shown = json.loads(cli("show", job_id, env=env).stdout)
    assert shown["status"] == "SUCCEEDED"
    assert shown["spec"]["options"]["commission"] == 0.002
    assert shown["result_prefix"] == "s3://results/runs/cli1/"
    assert (tmp_path / "store" / "results" / "runs" / "cli1" / "_SUCCESS").is_file()
    assert shown["user"] == "dana@example.com"
    recorded = json.loads(
        (tmp_path / "store" / "results" / "runs" / "cli1" / "spec.json").read_text()
    )
    assert recorded["user"] == "dana@example.com" and recorded["tags"] == {"project": "alpha"}
    listed = cli("ls", "--json", env=env)
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [job_id]
    assert "runs/cli1" in cli("logs", job_id, env=env).stdout


def test_submit_refuses_a_bad_tag_in_one_line(env: dict[str, str]) -> None:
    sub = cli("submit", "input", "prices.csv", "results", "--tag", "no-equals-sign", env=env)
    assert sub.returncode == 2
    assert sub.stderr.count("\n") == 1 and "--tag" in sub.stderr and "Traceback" not in sub.stderr


def test_wait_exits_1_on_a_failed_job_and_logs_show_why(env: dict[str, str]) -> None:
    sub = cli("submit", "input", "nope.csv", "results", env=env)
    job_id = sub.stdout.strip().splitlines()[-1]
    waited = cli("wait", job_id, "--timeout", "120", env=env)
    assert waited.returncode == 1
    assert "FAILED" in waited.stdout
    assert "nope.csv" in cli("logs", job_id, "--tail", "1", env=env).stdout
    again = cli("retry", job_id, env=env)
    assert again.returncode == 0
    assert again.stdout.strip().splitlines()[-1] != job_id


def test_bad_input_is_one_line_exit_2(env: dict[str, str]) -> None:
    for args in (
        ("submit", "input", "prices.csv", "results", "--fill", "bogus"),
        ("submit", "input", "prices.csv", "results", "--param", "fast"),
        ("submit", "input", "prices.csv", "results", "--cash", "-5"),
        ("show", "no-such-job"),
        ("ls", "--status", "DONE"),
        ("sweep", "input", "prices.csv", "results", "--range", "fast=5:1:1"),
        ("submit", "input", "prices.csv", "prices.csv", "results"),
        ("submit", "input", "prices.csv", "other.csv", "results", "--run-id", "one"),
        ("sweep", "input", "prices.csv", "prices.csv", "results", "--range", "fast=5:10:5"),
    ):
        out = cli(*args, env=env)
        assert out.returncode == 2, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, (args, out.stderr)
        assert out.stderr.startswith("error: ")
    assert cli("ls", "--json", env=env).stdout == ""  # nothing was submitted


def test_config_prints_values_and_sources(env: dict[str, str], tmp_path: Path) -> None:
    cfg = tmp_path / "backtest.toml"
    cfg.write_text('job_queue = "q1"\n')
    out = cli("config", env={**env, "BACKTEST_CONFIG": str(cfg), "BACKTEST_REGION": "eu-west-1"})
    assert out.returncode == 0
    lines = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert "'q1'" in lines["job_queue"] and str(cfg) in lines["job_queue"]
    assert "'eu-west-1'" in lines["region"] and "$BACKTEST_REGION" in lines["region"]
    assert "default" in lines["job_definition"]


def test_cancel_and_terminate_from_the_cli(env: dict[str, str]) -> None:
    settings = Settings(storage_root=env["BACKTEST_STORAGE_ROOT"])
    with LocalExecutor(settings, worker="none") as queue_only:  # queued, no worker yet
        a = queue_only.submit_command(["true"], name="a", kind="run")
        b = queue_only.submit_command(["true"], name="b", kind="run")
        out = cli("cancel", a.id, env=env)
        assert out.returncode == 0, out.stderr
        assert "FAILED" in out.stdout and "Cancelled by user" in out.stdout
        out = cli("terminate", b.id, "--reason", "not needed", env=env)
        assert out.returncode == 0, out.stderr
        assert queue_only.get(a.id).status_reason == "Cancelled by user"
        assert queue_only.get(b.id).status_reason == "not needed"
        assert queue_only.get(b.id).started_at is None


# -- argument parsing (pure functions) ---------------------------------------------------------


def test_ranges_are_inclusive_and_typed() -> None:
    def values(*ranges: str, lists: tuple[str, ...] = ()) -> dict[str, list]:
        return {k: list(v.expand()) for k, v in sweep_space(ranges, lists).items()}

    assert values("fast=5:50:5") == {"fast": [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]}
    assert values("x=0.1:0.3:0.1") == {"x": [0.1, 0.2, 0.3]}
    assert values("n=3:3:1") == {"n": [3]}
    assert values(lists=("fill=close,next_open",)) == {"fill": ["close", "next_open"]}
    for bad in ("fast=5:50", "fast=50:5:5", "fast=5:50:0", "fast=a:b:c", "=1:2:1", "fast=1,2"):
        with pytest.raises(ParamError):
            sweep_space([bad], [])
    for bad_list in ("fast=", "fast=1:3:1", "fast"):
        with pytest.raises(ParamError):
            sweep_space([], [bad_list])
    with pytest.raises(ParamError, match="given twice"):
        sweep_space(["fast=1:3:1"], ["fast=4,5"])


def test_params_parse_to_typed_values() -> None:
    assert parse_params(["fast=10", "w=0.5", "on=true", "mode=abc"]) == {
        "fast": 10,
        "w": 0.5,
        "on": True,
        "mode": "abc",
    }
    with pytest.raises(ParamError):
        parse_params(["novalue="])


def test_submit_options_round_trip_to_the_engine_command() -> None:
    ns = build_parser().parse_args(
        ["submit", "input", "k.csv", "results", "--strategy", "sma_cross", "--param", "fast=7",
         "--slippage-bps", "5", "--allow-short", "--fill", "close", "--stop-loss", "4"]
    )  # fmt: skip
    spec = spec_from_args(ns)
    assert spec.options.slippage_bps == 5.0 and spec.options.allow_short is True
    assert spec.options.fill == "close" and spec.options.stop_loss == 4.0
    assert args_from_spec(spec) == [
        "input", "k.csv", "results", "--strategy", "sma_cross", "--param", "fast=7",
        "--slippage-bps", "5.0", "--fill", "close", "--allow-short", "--stop-loss", "4.0",
    ]  # fmt: skip


def test_the_engine_cli_accepts_what_we_generate() -> None:
    from engine.cli_args import build_parser as engine_parser

    ns = build_parser().parse_args(
        ["submit", "input", "k.csv", "results", "--param", "fast=7", "--slippage-bps", "5",
         "--allow-short", "--lot-size", "100", "--periods-per-year", "252", "--run-id", "r9"]
    )  # fmt: skip
    parsed = engine_parser(with_strategies=False).parse_args(args_from_spec(spec_from_args(ns)))
    assert parsed.slippage_bps == 5.0 and parsed.allow_short is True
    assert parsed.lot_size == 100.0 and parsed.periods_per_year == 252.0
    assert parsed.param == ["fast=7"] and parsed.run_id == "r9"
    # one mapping both ways: what the job runs reads back as the spec that was submitted
    from engine.cli_args import spec_from_args as engine_spec

    submitted = spec_from_args(ns)
    assert engine_spec(parsed) == submitted


def test_the_two_clis_take_the_same_run_options() -> None:
    from engine.cli_args import build_parser as engine_parser

    def flags(parser: object) -> set[str]:
        actions = getattr(parser, "_actions", [])
        return {o for a in actions for o in a.option_strings if o.startswith("--")}

    submit = build_parser()._subparsers._group_actions[0].choices["submit"]  # type: ignore[union-attr]
    engine_only = {"--help", "--list-strategies", "--sweep", "--round"}
    assert flags(engine_parser(with_strategies=False)) - engine_only == flags(submit) - {
        "--help",
        "--name",
    }


def test_status_parsing_and_name_rules() -> None:
    assert JobStatus.parse("running") is JobStatus.RUNNING
    assert JobStatus.parse(" SUCCEEDED ") is JobStatus.SUCCEEDED
    assert [s.is_terminal for s in JobStatus] == [False] * 5 + [True] * 2
    with pytest.raises(BacktestError):
        JobStatus.parse("DONE")
    assert check_job_name("a" * 128) == "a" * 128
    for bad in ("", "-x", "_x", "a" * 129, "has space", "dot.name"):
        with pytest.raises(BacktestError):
            check_job_name(bad)
    assert safe_job_name("run-2024.01/x y") == "run-2024-01-x-y"
    assert check_job_name(safe_job_name("...")) == "job"


@pytest.mark.parametrize(
    "command",
    ["submit", "sweep", "ls", "show", "cancel", "terminate", "logs", "retry", "wait", "config"],
)
def test_every_subcommand_has_working_help(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from jobs.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m jobs " + command)
    if command in ("submit", "sweep"):
        assert "commission rate per fill (0.001 = 0.1%)" in out


@pytest.mark.parametrize(
    ("argv", "help_of"),
    [
        (["strategy", "add", "x.py", "--bucket", "b"], "python -m jobs strategy add --help"),
        (["submit", "a", "b.csv", "c", "--bogus"], "python -m jobs submit --help"),
        (["submit"], "python -m jobs submit --help"),
        (["nope"], "python -m jobs --help"),
    ],
)
def test_a_usage_error_names_the_help_of_its_own_command(
    argv: list[str], help_of: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from jobs.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert err.endswith(f"(see {help_of})")  # not "python -m jobs jobs --help"
