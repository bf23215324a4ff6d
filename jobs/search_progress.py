"""A TPE search's progress as its files (and, given an executor, its jobs) say now: rounds
asked of total, trials evaluated of the budget, the state and, when stopped, the command that
continues it (``python -m jobs search-status``, the Jobs page, the sweep page)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.store.objects import Store
from engine.sweep.results import is_collected, read_json, spec_key, sweep_prefix
from engine.sweep.search_rounds import RoundLayout
from jobs.base import Executor
from jobs.model import JobStatus
from jobs.search_records import (
    FIRST,
    ROUND_RE,
    continue_command,
    round_jobs,
    search_doc,
    search_key,
    status_of,
)


@dataclass(frozen=True)
class SearchProgress:
    """A TPE search as its files (and, given an executor, its jobs) say now."""

    sweep_id: str
    spec_uri: str
    budget: int  # trials the search runs (spec.json's n)
    budget_requested: int  # what was asked for (more than budget when the space is smaller)
    valid_combinations: int | None
    round_size: int
    rounds_total: int
    rounds_asked: int
    trials_evaluated: int  # trials whose chunk is written
    state: str  # "running", "stopped", "collecting", "done"
    message: str  # one line
    continue_command: str | None = None  # set when state is "stopped"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def search_progress(
    store: Store, bucket: str, sweep_id: str, executor: Executor | None = None
) -> SearchProgress:
    """Rounds asked / total, trials evaluated / budget and the state, read now.

    Without ``executor`` the state comes from the files only ("running" until every round is
    written, then "collecting", then "done"); with it, a failed round or step job of the latest
    round makes it "stopped", with the command that continues the search."""
    from engine.sweep.plan import chunk_indices
    from engine.sweep.results import chunk_state
    from engine.sweep.search_results import search_layout

    doc = search_doc(store, bucket, spec_key(sweep_id))  # never imports a strategy file
    layout = search_layout(doc)
    uri = store.uri(bucket, spec_key(sweep_id))
    info = read_json(store, bucket, search_key(sweep_id)) if store.exists(
        bucket, search_key(sweep_id)
    ) else {}  # fmt: skip
    info = info if isinstance(info, dict) else {}
    prefix = sweep_prefix(sweep_id)
    asked = sorted(
        int(m.group(1))
        for o in store.list(bucket, prefix + "search/")
        if (m := ROUND_RE.search(o.key)) is not None
    )
    chunks = chunk_state(store, bucket, sweep_id, doc.n_children)
    evaluated = sum(len(chunk_indices(i, doc.plan, doc.n_tasks)) for i in chunks.done)
    last = asked[-1] if asked else FIRST  # none asked yet: a stored strategy's first step
    state, message, command = _state(store, doc, layout, (last, evaluated), executor)
    return SearchProgress(
        sweep_id,
        uri,
        layout.budget,
        int(info.get("budget_requested") or layout.budget),
        info.get("valid_combinations"),
        layout.round_size,
        layout.n_rounds,
        len(asked),
        evaluated,
        state,
        message,
        command,
    )


def _state(
    store: Store,
    doc: Any,
    layout: RoundLayout,
    where: tuple[int, int],
    executor: Executor | None,
) -> tuple[str, str, str | None]:
    last, evaluated = where
    sweep_id, bucket = doc.spec.sweep_id, doc.spec.base.result_bucket
    if is_collected(store, bucket, sweep_id):
        return "done", f"collected: {evaluated} trials in {layout.n_rounds} rounds", None
    if executor is not None:
        stopped = _stopped(executor, store, doc, last)
        if stopped is not None:
            return stopped
    if evaluated >= layout.budget:
        return "collecting", f"all {layout.n_rounds} rounds evaluated; collecting", None
    if last == FIRST:
        return (
            "running",
            f"asking round 1 of {layout.n_rounds} (its step job loads the strategy file): "
            f"0 of {layout.budget} trials evaluated",
            None,
        )
    return (
        "running",
        f"round {last + 1} of {layout.n_rounds}: {evaluated} of {layout.budget} trials evaluated",
        None,
    )


def _stopped(
    executor: Executor, store: Store, doc: Any, last: int
) -> tuple[str, str, str | None] | None:
    """("stopped", why, the command that continues) when a job of the latest round FAILED."""
    sweep_id, bucket = doc.spec.sweep_id, doc.spec.base.result_bucket
    uri = store.uri(bucket, spec_key(sweep_id))
    entries = round_jobs(store, bucket, sweep_id, max(last, 0))
    latest = entries[-1] if entries else {}
    for role in ("collect", "step", "array", "ask"):
        job = latest.get(role)
        if status_of(executor, job) is not JobStatus.FAILED:
            continue
        if role == "ask":  # a stored strategy's first step, which asks round 0
            command = continue_command(uri, FIRST)
            what = f"the step job {job} that asks round 0"
        else:
            command = continue_command(uri, last)
            what = f"round {last}'s {role} job {job}"
        if role == "collect":
            command = f"python -m engine.sweep.collect {uri}"
        return "stopped", f"{what} FAILED; continue with `{command}`", command
    return None


def progress_line(p: SearchProgress) -> str:
    """One line for ``python -m jobs search-status``."""
    budget = f"{p.budget}"
    if p.budget_requested != p.budget:
        budget += f" (asked {p.budget_requested}; the space has only {p.valid_combinations})"
    return (
        f"search {p.sweep_id}: {p.state} · rounds asked {p.rounds_asked}/{p.rounds_total} · "
        f"trials evaluated {p.trials_evaluated}/{budget} · {p.message}"
    )


__all__ = ["SearchProgress", "progress_line", "search_progress"]
