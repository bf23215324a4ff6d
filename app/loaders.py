"""The one module of Streamlit-cached loaders (pages call these; services stay Streamlit-free).

The context is cached per resolved settings, so a change of ``BACKTEST_*`` variables or config
file (tests do this) gets a fresh store and executor. Data loaders have short TTLs and are
cleared by :func:`invalidate` after a submit, upload or delete.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import data_service, jobs_service, results_service, sweep_service
from app.context import AppContext, build_context
from jobs.settings import Settings, load_settings


@st.cache_resource(show_spinner=False)
def _context_for(settings: Settings) -> AppContext:
    return build_context()


def get_context() -> AppContext:
    """The AppContext for the current settings (created once per distinct settings)."""
    settings, _ = load_settings()
    return _context_for(settings)


def invalidate() -> None:
    """Drop cached data (not the context) after anything that changes the stores or jobs."""
    st.cache_data.clear()


# -- results pages (Run results, Sweep results, Compare) --------------------------------------
# Cached per settings (``scope``) so another storage root never sees these entries. Finished
# runs and sweeps are immutable and cached; unfinished ones are returned uncached (the
# ``_Uncached`` exception carries them out of the cache wrapper) so progress shows at once.

LIST_TTL = 10  # seconds: run and sweep pickers
RESULT_TTL = 600  # finished runs/sweeps (invalidate() clears them after a submit)
PRICES_TTL = 300


class _Uncached(Exception):  # carries an uncached value out of a cached function
    def __init__(self, value: object) -> None:
        super().__init__("not cached")
        self.value = value


def _scope(ctx: AppContext) -> str:
    return repr(ctx.settings)


@st.cache_data(ttl=LIST_TTL, show_spinner=False, max_entries=16)
def _runs(scope: str, _ctx: AppContext, finished_only: bool) -> pd.DataFrame:
    return results_service.list_runs(_ctx, finished_only=finished_only)


def list_runs(finished_only: bool = True) -> pd.DataFrame:
    """Runs in the result bucket, newest first (see results_service.list_runs)."""
    ctx = get_context()
    return _runs(_scope(ctx), ctx, finished_only)


@st.cache_data(ttl=RESULT_TTL, show_spinner="Reading the run ...", max_entries=32)
def _run(scope: str, _ctx: AppContext, run_id: str) -> results_service.RunView:
    view = results_service.load_run(_ctx, run_id)
    if not view.finished:
        raise _Uncached(view)
    return view


def load_run(run_id: str) -> results_service.RunView:
    """One run (finished runs cached; unfinished/failed read fresh every time)."""
    ctx = get_context()
    try:
        return _run(_scope(ctx), ctx, run_id)
    except _Uncached as carrier:
        return carrier.value  # type: ignore[return-value]


@st.cache_data(ttl=PRICES_TTL, show_spinner="Reading the price file ...", max_entries=8)
def _prices(scope: str, _ctx: AppContext, bucket: str, key: str) -> pd.DataFrame:
    spec = {"source_bucket": bucket, "source_key": key}
    return results_service.load_prices_for(_ctx, spec)


def load_run_prices(spec: dict[str, object]) -> pd.DataFrame:
    """The run's input bars (NotFoundError when the file is gone)."""
    ctx = get_context()
    bucket, key = str(spec.get("source_bucket", "")), str(spec.get("source_key", ""))
    return _prices(_scope(ctx), ctx, bucket, key)


@st.cache_data(ttl=RESULT_TTL, show_spinner="Reading the runs ...", max_entries=16)
def _comparison(
    scope: str, _ctx: AppContext, run_ids: tuple[str, ...]
) -> results_service.Comparison:
    return results_service.compare_runs(_ctx, run_ids)


def compare_runs(run_ids: tuple[str, ...]) -> results_service.Comparison:
    """Equity frames and a metrics table of finished runs (see results_service.compare_runs)."""
    ctx = get_context()
    return _comparison(_scope(ctx), ctx, tuple(run_ids))


@st.cache_data(ttl=LIST_TTL, show_spinner=False, max_entries=16)
def _sweeps(scope: str, _ctx: AppContext) -> pd.DataFrame:
    return sweep_service.list_sweeps(_ctx)


def list_sweeps() -> pd.DataFrame:
    """Sweeps in the result bucket (see sweep_service.list_sweeps)."""
    ctx = get_context()
    return _sweeps(_scope(ctx), ctx)


@st.cache_data(ttl=RESULT_TTL, show_spinner="Reading the sweep ...", max_entries=8)
def _sweep(scope: str, _ctx: AppContext, sweep_id: str) -> sweep_service.SweepView:
    view = sweep_service.read_sweep(_ctx, sweep_id)
    if not view.finished:
        raise _Uncached(view)
    return view


def load_sweep(sweep_id: str) -> sweep_service.SweepView:
    """One sweep (finished ones cached; unfinished read fresh to show progress)."""
    ctx = get_context()
    try:
        return _sweep(_scope(ctx), ctx, sweep_id)
    except _Uncached as carrier:
        return carrier.value  # type: ignore[return-value]


# -- Data, New run and Jobs pages (same scheme: cached per settings ``scope``) ----------------

LISTING_TTL = 15  # seconds: bucket listings and the input file picker
PREVIEW_TTL = 300
JOBS_TTL = 1  # the live job table refreshes every 2 s


@st.cache_data(ttl=LISTING_TTL, show_spinner=False, max_entries=8)
def _buckets(scope: str, _ctx: AppContext) -> list[str]:
    return data_service.list_buckets(_ctx)


def buckets() -> list[str]:
    """Buckets to browse on the Data page ('_' folders hidden on local)."""
    ctx = get_context()
    return _buckets(_scope(ctx), ctx)


@st.cache_data(ttl=LISTING_TTL, show_spinner=False, max_entries=64)
def _listing(scope: str, _ctx: AppContext, bucket: str, prefix: str) -> data_service.Listing:
    return data_service.list_objects(_ctx, bucket, prefix)


def listing(bucket: str, prefix: str) -> data_service.Listing:
    """One folder level of a bucket: sub-folders and objects."""
    ctx = get_context()
    return _listing(_scope(ctx), ctx, bucket, prefix)


@st.cache_data(ttl=PREVIEW_TTL, show_spinner="Validating the file ...", max_entries=16)
def _preview(scope: str, _ctx: AppContext, bucket: str, key: str) -> data_service.Preview:
    return data_service.preview_file(_ctx, bucket, key)


def preview(bucket: str, key: str) -> data_service.Preview:
    """A file's preview and the engine's verdict."""
    ctx = get_context()
    return _preview(_scope(ctx), ctx, bucket, key)


@st.cache_data(ttl=LISTING_TTL, show_spinner=False, max_entries=8)
def _input_files(scope: str, _ctx: AppContext) -> list[str]:
    return data_service.input_files(_ctx)


def input_files() -> list[str]:
    """Price files in the input bucket (recursive)."""
    ctx = get_context()
    return _input_files(_scope(ctx), ctx)


@st.cache_data(ttl=PREVIEW_TTL, show_spinner=False, max_entries=256)
def _bars(scope: str, _ctx: AppContext, bucket: str, key: str) -> int:
    return data_service.bar_count(_ctx, bucket, key)


def bar_count(bucket: str, key: str) -> int:
    """Bars in a price file (for sweep estimates; 0 when it does not validate)."""
    ctx = get_context()
    return _bars(_scope(ctx), ctx, bucket, key)


@st.cache_data(ttl=JOBS_TTL, show_spinner=False, max_entries=32)
def _jobs(scope: str, _ctx: AppContext, status: str, name: str, window: str) -> pd.DataFrame:
    return jobs_service.list_jobs(_ctx, status, name, window)


def jobs_table(status: str, name: str, window: str) -> pd.DataFrame:
    """The filtered job table, newest first."""
    ctx = get_context()
    return _jobs(_scope(ctx), ctx, status, name, window)
