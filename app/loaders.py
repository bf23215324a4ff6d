"""The one module of Streamlit-cached loaders (pages call these; services stay Streamlit-free).

The context is cached per resolved settings, so a change of ``BACKTEST_*`` variables or config
file (tests do this) gets a fresh store and executor. Data loaders have short TTLs and are
cleared by :func:`invalidate` after a submit, upload or delete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
import pandas as pd
import streamlit as st

from app import data_service, jobs_service, results_service, run_picker, sweep_service
from app.context import AppContext, build_context
from engine.sweep.spec import ExpansionStats, SweepSpec, expansion_stats
from jobs.settings import Settings, load_settings


@st.cache_resource(show_spinner=False)
def _context_for(settings: Settings) -> AppContext:
    return build_context()


def get_context() -> AppContext:
    """The AppContext for the current settings (created once per distinct settings)."""
    settings = load_settings()
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


P = ParamSpec("P")
R = TypeVar("R")


def scoped(
    *, resource: bool = False, **options: Any
) -> Callable[[Callable[Concatenate[AppContext, P], R]], Callable[P, R]]:
    """Turn ``fn(ctx, *args)`` into the public loader ``loader(*args)``.

    The loader reads the current context and calls a Streamlit-cached function (st.cache_data,
    or st.cache_resource with ``resource``, given ``options``) keyed on the settings (``scope``:
    another storage root never sees these entries) and ``args``; the context itself is not
    hashed. A value ``fn`` raises as ``_Uncached(value)`` is returned but not cached (an
    unfinished run or sweep, so progress shows at once).
    """
    cache = st.cache_resource if resource else st.cache_data

    def decorate(fn: Callable[Concatenate[AppContext, P], R]) -> Callable[P, R]:
        def cached(scope: str, _ctx: AppContext, *args: Any, **kwargs: Any) -> R:
            return fn(_ctx, *args, **kwargs)

        # Streamlit keys a cache on the function's module and qualified name: one per loader.
        cached.__module__, cached.__qualname__ = fn.__module__, f"_cached_{fn.__qualname__}"
        cached.__name__ = f"_cached_{fn.__name__}"
        store = cache(**options)(cached)

        def loader(*args: P.args, **kwargs: P.kwargs) -> R:
            ctx = get_context()
            try:
                return store(_scope(ctx), ctx, *args, **kwargs)
            except _Uncached as carrier:
                return carrier.value  # type: ignore[return-value]

        loader.__name__, loader.__qualname__, loader.__doc__ = (
            fn.__name__,
            fn.__qualname__,
            fn.__doc__,
        )
        return loader

    return decorate


@scoped(ttl=LIST_TTL, show_spinner=False, max_entries=16)
def list_runs(ctx: AppContext, finished_only: bool = True) -> pd.DataFrame:
    """Runs in the result bucket, newest first (see results_service.list_runs)."""
    return results_service.list_runs(ctx, finished_only=finished_only)


@st.cache_resource(show_spinner=False, max_entries=8)
def _brief_memo(scope: str) -> dict[tuple[str, object], run_picker.RunBrief]:
    return {}  # finished runs never change: briefs kept by (run id, finish time)


def run_briefs() -> list[run_picker.RunBrief]:
    """Finished runs for the pickers (strategy, file, date, main metric), in picker order:
    newest first, a sweep's top-N reruns grouped. Only runs not seen before are read."""
    ctx = get_context()
    frame = list_runs()
    memo = _brief_memo(_scope(ctx))
    items = [(str(r), w) for r, w in zip(frame["run_id"], frame["finished_at"], strict=True)]
    missing = [item for item in items if item not in memo]
    for item, brief in zip(
        missing,
        run_picker.read_briefs(ctx.store, ctx.settings.result_bucket, missing),
        strict=True,
    ):
        memo[item] = brief
    return run_picker.picker_order(memo[item] for item in items)


@scoped(ttl=RESULT_TTL, show_spinner="Reading the run ...", max_entries=32)
def load_run(ctx: AppContext, run_id: str) -> results_service.RunView:
    """One run (finished runs cached; unfinished/failed read fresh every time)."""
    view = results_service.load_run(ctx, run_id)
    if not view.finished:
        raise _Uncached(view)
    return view


@scoped(ttl=PRICES_TTL, show_spinner="Reading the price file ...", max_entries=8)
def _prices(ctx: AppContext, bucket: str, key: str) -> pd.DataFrame:
    return results_service.load_prices_for(ctx, {"source_bucket": bucket, "source_key": key})


def load_run_prices(spec: dict[str, object]) -> pd.DataFrame:
    """The run's input bars (NotFoundError when the file is gone)."""
    return _prices(str(spec.get("source_bucket", "")), str(spec.get("source_key", "")))


@scoped(ttl=RESULT_TTL, show_spinner="Reading the runs ...", max_entries=16)
def compare_runs(ctx: AppContext, run_ids: tuple[str, ...]) -> results_service.Comparison:
    """Equity frames and a metrics table of finished runs (see results_service.compare_runs)."""
    return results_service.compare_runs(ctx, tuple(run_ids))


@scoped(ttl=LIST_TTL, show_spinner=False, max_entries=16)
def list_sweeps(ctx: AppContext) -> pd.DataFrame:
    """Sweeps in the result bucket (see sweep_service.list_sweeps)."""
    return sweep_service.list_sweeps(ctx)


# A finished sweep is immutable and can hold 1,000,000 rows: it is kept once per process
# (cache_resource, no copy per rerun; callers never modify it). What the page draws from it is
# small and cached per choice (cache_data), so a metric or axis switch does not redo the work.
SWEEP_TTL = RESULT_TTL


@st.cache_resource(ttl=SWEEP_TTL, show_spinner="Reading the sweep ...", max_entries=4)
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


def _finished_view(scope: str, ctx: AppContext, sweep_id: str) -> sweep_service.SweepView:
    return _sweep(scope, ctx, sweep_id)  # only called for finished sweeps (cached above)


@st.cache_data(ttl=SWEEP_TTL, show_spinner=False, max_entries=16)
def _sweep_facts(scope: str, _ctx: AppContext, sweep_id: str) -> sweep_service.SweepFacts:
    return sweep_service.sweep_facts(_finished_view(scope, _ctx, sweep_id))


@st.cache_data(ttl=SWEEP_TTL, show_spinner=False, max_entries=32)
def _sweep_sample(scope: str, _ctx: AppContext, sweep_id: str, metric: str) -> sweep_service.Sample:
    order = _sweep_ranking(scope, _ctx, sweep_id, metric)
    return sweep_service.parcoords_rows(_finished_view(scope, _ctx, sweep_id), metric, order)


@st.cache_data(ttl=SWEEP_TTL, show_spinner="Ranking the combinations ...", max_entries=32)
def _sweep_ranking(scope: str, _ctx: AppContext, sweep_id: str, metric: str) -> np.ndarray:
    return sweep_service.ranking(_finished_view(scope, _ctx, sweep_id), metric)


def sweep_facts(view: sweep_service.SweepView) -> sweep_service.SweepFacts:
    """Axes, sorted parameter values and ruin counts (cached for finished sweeps)."""
    if not view.finished:
        return sweep_service.sweep_facts(view)
    ctx = get_context()
    return _sweep_facts(_scope(ctx), ctx, view.sweep_id)


def sweep_sample(view: sweep_service.SweepView, metric: str) -> sweep_service.Sample:
    """The parallel coordinates sample for ``metric`` (cached for finished sweeps)."""
    if not view.finished:
        return sweep_service.parcoords_rows(view, metric)
    ctx = get_context()
    return _sweep_sample(_scope(ctx), ctx, view.sweep_id, metric)


def sweep_ranking(view: sweep_service.SweepView, metric: str) -> np.ndarray:
    """Row positions best first by ``metric`` (cached for finished sweeps)."""
    if not view.finished:
        return sweep_service.ranking(view, metric)
    ctx = get_context()
    return _sweep_ranking(_scope(ctx), ctx, view.sweep_id, metric)


# -- Data, New run and Jobs pages (same scheme: cached per settings ``scope``) ----------------

LISTING_TTL = 15  # seconds: bucket listings and the input file picker
PREVIEW_TTL = 300
JOBS_TTL = 1  # the live job table refreshes every 2 s


@scoped(ttl=LISTING_TTL, show_spinner=False, max_entries=8)
def buckets(ctx: AppContext) -> list[str]:
    """Buckets to browse on the Data page ('_' folders hidden on local)."""
    return data_service.list_buckets(ctx)


@scoped(ttl=LISTING_TTL, show_spinner=False, max_entries=64)
def listing(ctx: AppContext, bucket: str, prefix: str) -> data_service.Listing:
    """One folder level of a bucket: sub-folders and objects."""
    return data_service.list_objects(ctx, bucket, prefix)


@scoped(ttl=PREVIEW_TTL, show_spinner="Validating the file ...", max_entries=16)
def preview(ctx: AppContext, bucket: str, key: str) -> data_service.Preview:
    """A file's preview and the engine's verdict."""
    return data_service.preview_file(ctx, bucket, key)


@scoped(ttl=LISTING_TTL, show_spinner=False, max_entries=8)
def input_files(ctx: AppContext) -> list[str]:
    """Price files in the input bucket (recursive)."""
    return data_service.input_files(ctx)


@scoped(ttl=PREVIEW_TTL, show_spinner=False, max_entries=256)
def bar_count(ctx: AppContext, bucket: str, key: str) -> int:
    """Bars in a price file (for sweep estimates; 0 when it does not validate)."""
    return data_service.bar_count(ctx, bucket, key)


@scoped(ttl=JOBS_TTL, show_spinner=False, max_entries=32)
def jobs_table(ctx: AppContext, status: str, name: str, window: str) -> pd.DataFrame:
    """The filtered job table, newest first."""
    return jobs_service.list_jobs(ctx, status, name, window)


@scoped(ttl=RESULT_TTL, show_spinner=False, max_entries=1024)
def sweep_chunk(ctx: AppContext, bucket: str, sweep_id: str, index: int) -> pd.DataFrame:
    """The rows of one finished sweep chunk (written once, so cached)."""
    return jobs_service.chunk_rows(ctx, bucket, sweep_id, index)


# -- New run: a sweep's combination count (counting a 1,000,000 grid takes seconds) -----------


@st.cache_data(ttl=PREVIEW_TTL, show_spinner="Counting combinations ...", max_entries=32)
def _sweep_stats(spec_key: str, _spec: SweepSpec) -> ExpansionStats:
    return expansion_stats(_spec)


def sweep_stats(spec: SweepSpec) -> ExpansionStats:
    """expansion_stats of a sweep, cached per content (its fresh sweep id is not part of it)."""
    key = replace(spec, sweep_id="form").to_json()
    return ExpansionStats(*_sweep_stats(key, spec))
