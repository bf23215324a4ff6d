"""Shared fixtures: a moto S3/Batch server on 127.0.0.1, the ../shared seed data, synthetic bars."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BACKTEST_SHARED_DIR", REPO.parent / "shared"))
SEED_DIR = SHARED / "data" / "seed"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    """The reference system's A-share CSVs; skips only when ../shared is absent."""
    if not SEED_DIR.is_dir():
        pytest.skip(f"{SEED_DIR} is absent (a user's clone has no ../shared)")
    return SEED_DIR


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real moto server (S3, Batch, IAM, ECR, Logs) on loopback; yields its endpoint URL."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3/s3fs in this process (and subprocesses given os.environ) at moto."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    monkeypatch.delenv("BACKTEST_STORAGE_ROOT", raising=False)
    return moto_server


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's real config, AWS profile or storage root."""
    for var in list(os.environ):
        if var.startswith("BACKTEST_") and var != "BACKTEST_SHARED_DIR":
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BACKTEST_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))


# -- markers -------------------------------------------------------------------------------------

# Tests over ~5 s each (pytest --durations on 2 shared cores; tests/load and tests/faults mark
# their own), marked slow here so that `make test-fast` (-m "not e2e and not slow") leaves them
# out; `make test` runs them. Keys are node ids without parameters ("tests/file.py::test_name")
# or whole files ("tests/file.py").
SLOW_TESTS: frozenset[str] = frozenset(
    {
        "tests/app/test_settings_shared_state.py",
        "tests/jobs/test_settings_resume_hint.py::test_the_resume_hint_runs_as_printed",
        "tests/jobs/test_resume.py::test_cli_resume_of_one_lost_chunk",
        "tests/jobs/test_resume.py::test_local_resume_reruns_only_the_lost_chunks",
        "tests/jobs/test_sweeps_jobs.py::test_cli_sweep_end_to_end_on_the_local_backend",
        "tests/jobs/test_sweeps_jobs.py::test_a_one_chunk_sweep_runs_as_a_plain_job",
        "tests/infra/test_infra_cli.py::test_cli_through_aws_endpoint_url",
        "tests/infra/test_infra_image.py::test_a_failed_build_is_one_line_with_its_reason_and_pins_nothing",
        "tests/infra/test_infra_image.py::test_a_second_remote_build_reuses_the_project",
        "tests/infra/test_infra_image.py::test_remote_build_uploads_builds_streams_and_pins_the_digest",
        "tests/infra/test_infra_image.py::test_down_removes_the_build_project_and_role",
        "tests/views/test_app_jobs.py::test_a_failed_sweep_shows_chunks_child_logs_and_resumes",
        "tests/jobs/test_jobs_cli.py::test_bad_input_is_one_line_exit_2",
        "tests/jobs/test_jobs_cli.py::test_submit_then_wait_auto_starts_a_worker",
        "tests/jobs/test_jobs_cli.py::test_wait_exits_1_on_a_failed_job_and_logs_show_why",
        "tests/jobs/test_jobs_local.py::test_engine_run_succeeds_and_writes_results",
        "tests/jobs/test_jobs_local.py::test_the_job_record_carries_the_specs_user",
        "tests/jobs/test_jobs_local.py::test_engine_bad_input_fails_with_its_one_line_reason",
        "tests/infra/test_policy_calls.py::test_policy_allows_every_call_of_the_dashboard_and_the_jobs_cli",
        "tests/jobs/test_batch_realaws.py::test_a_sweep_over_100_files_with_80_character_keys_submits_and_runs",
        "tests/engine/test_cli.py::test_missing_source_bucket_and_key_on_s3",
        "tests/engine/test_cli.py::test_help_lists_strategies_and_options",
        "tests/engine/test_cli.py::test_key_leaving_the_bucket_is_refused",
        "tests/engine/test_cli.py::test_unreachable_endpoint_exits_1",
        "tests/engine/test_cli.py::test_seed_compatible_three_arguments_file_form",
        "tests/engine/test_cli.py::test_s3_run_writes_the_result_layout",
        "tests/engine/test_cli.py::test_bad_arguments_exit_2_and_write_nothing",
        "tests/engine/test_cli.py::test_run_from_inside_the_engine_folder",
        "tests/hardening/test_access.py::test_local_executor_records_the_user_and_never_the_credentials",
        "tests/hardening/test_corpus_cli.py::test_corpus_file_through_a_real_subprocess",
        "tests/engine/test_lucky_parameter.py",
        "tests/jobs/test_wf_resume.py",
        "tests/app/test_jobs_wf_count.py",
        "tests/app/test_seed_strategies.py",
        "tests/app/test_rerun_recorded.py",
        "tests/jobs/test_stored_strategy_sweep.py::test_a_stored_strategy_sweep_resumes_its_lost_chunk_on_the_pinned_copy",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        file, _, name = item.nodeid.partition("::")
        if file in SLOW_TESTS or f"{file}::{name.split('[')[0]}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
