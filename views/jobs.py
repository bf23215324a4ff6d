"""Jobs: a live table, one job's live detail (status, progress, logs), its actions and links.

The selected job's panel is a fragment that re-reads the job every REFRESH_S seconds while it
can still change; when its state changes (it finished, a sweep's collect started, ...) the whole
page reruns, so the actions and links offered are always those of the job's state now. The URL
always carries the selected job's id (``?job=<id>``).
"""

import time
from datetime import UTC, datetime

import streamlit as st

from app import cli_hints, data_service, jobs_service, loaders
from engine.errors import NotFoundError, ProjectError
from jobs.model import JobStatus
from views import _pages as nav
from views._guard import page_errors

REFRESH_S = 2
PER_PAGE = 50
MAX_CHOICES = 200
FLASH_S = 20  # an action's outcome stays shown this long
SEP = " · "

st.title("Jobs")
ctx = loaders.get_context()
ss = st.session_state
st.caption(f"Backend: {ctx.backend_label}. Times are UTC.")


def _flash(kind: str, text: str) -> None:
    ss["jobs_flash"] = (kind, text, time.monotonic())


def _name_of(job_id: str) -> str:
    """A job's name, remembered for the session (labels must never change: Streamlit keys a
    selectbox's value by its label, so a changing label would turn the value into the label)."""
    names: dict[str, str] = ss.setdefault("jobs_names", {})
    if job_id not in names:
        try:
            names[job_id] = ctx.executor.get(job_id).name
        except NotFoundError:
            names[job_id] = "unknown job"
        except ProjectError:
            return "job"
    return names[job_id]


def _label(job_id: str) -> str:
    return f"{_name_of(job_id)}{SEP}{job_id}"


def _select(job_id: str | None) -> None:
    ss["jobs_selected"] = job_id
    if job_id:
        st.query_params["job"] = job_id
    else:
        st.query_params.pop("job", None)


def _on_select() -> None:
    ss.pop("jobs_flash", None)  # an outcome is about the job it was for
    _select(ss.get("jobs_selected"))


def _ask(action: str, job_id: str) -> None:
    ss["jobs_confirm"] = (action, job_id)


def _no() -> None:
    ss.pop("jobs_confirm", None)


def _do(action: str, job_id: str) -> None:
    ss.pop("jobs_confirm", None)
    try:
        if action == "cancel":
            _flash("success", jobs_service.cancel_job(ctx, job_id))
        elif action == "terminate":
            _flash("success", jobs_service.terminate_job(ctx, job_id))
        elif action == "rerun":
            record = jobs_service.retry_job(ctx, job_id)
            _select(record.id)
            _flash("success", f"Submitted again as job {record.id}")
        elif action == "resume":
            resumed = jobs_service.resume_job(ctx, job_id)
            _select((resumed.array or resumed.collect).id)
            _flash("success", resumed.summary()[:1].upper() + resumed.summary()[1:])
    except ProjectError as exc:
        _flash("error", str(exc))
    loaders.invalidate()


flash = ss.get("jobs_flash")
if flash and time.monotonic() - flash[2] < FLASH_S:  # kept across the live reruns it causes
    (st.success if flash[0] == "success" else st.error)(flash[1])
elif flash:
    ss.pop("jobs_flash", None)

# -- filters and the live table ---------------------------------------------------------------
cols = st.columns([1, 2, 1])
status = cols[0].selectbox("Status", jobs_service.status_choices(), key="jobs_status")
name = cols[1].text_input("Name or id contains", key="jobs_name")
window = cols[2].selectbox(
    "Created", list(jobs_service.WINDOWS), index=len(jobs_service.WINDOWS) - 1, key="jobs_window"
)


@st.fragment(run_every=REFRESH_S)
def live_table(status: str, name: str, window: str) -> None:
    """The job table; reruns on its own every REFRESH_S seconds."""
    try:
        frame = loaders.jobs_table(status, name, window)
    except ProjectError as exc:
        st.error(str(exc))
        return
    n_pages = data_service.page_count(len(frame), PER_PAGE)
    page = st.pagination(n_pages, key="jobs_page") if n_pages > 1 else 1
    shown = data_service.page_slice(frame, page, PER_PAGE)
    st.dataframe(shown, hide_index=True, width="stretch")
    now = datetime.now(UTC).strftime("%H:%M:%S")
    st.caption(f"{len(frame):,} job(s), newest first · refreshed {now} UTC")


live_table(status, name, window)

# -- which job --------------------------------------------------------------------------------
with page_errors():
    frame = loaders.jobs_table(status, name, window)
names = ss.setdefault("jobs_names", {})
for job, job_name in zip(frame["id"][:MAX_CHOICES], frame["name"][:MAX_CHOICES], strict=True):
    names.setdefault(job, job_name)
choices = list(frame["id"][:MAX_CHOICES])
wanted = st.query_params.get("job")
if wanted and wanted != ss.get("jobs_selected"):
    ss["jobs_selected"] = wanted  # a link or a typed URL: the URL names the job (the selector
    # and every action keep the URL in step with the selection, so they never differ otherwise)
current = ss.get("jobs_selected")
if current and current not in choices and SEP in str(current):
    # a label instead of an id (should not happen with fixed labels): take the id back
    current = str(current).rsplit(SEP, 1)[1]
    ss["jobs_selected"] = current
if current and current not in choices:
    choices.insert(0, current)
if not choices:
    st.info("No jobs yet.")
    st.page_link(nav.NEW_RUN, label="Start a run", icon=":material/play_arrow:")
    st.stop()
job_id = st.selectbox(
    "Job",
    choices,
    index=None,
    key="jobs_selected",
    format_func=_label,
    on_change=_on_select,
    placeholder="select a job for its detail and log",
)
if not job_id:
    st.query_params.pop("job", None)
    st.stop()
if st.query_params.get("job") != job_id:
    st.query_params["job"] = job_id  # the URL always carries the id, whatever was clicked

with page_errors():
    detail = jobs_service.job_detail(ctx, job_id)
record = detail.record
ss["jobs_state_key"] = (job_id, detail.state_key)
actions = st.container()  # filled below, shown above the detail


def show_sweep(d: jobs_service.JobDetail) -> None:
    """Chunk progress of the sweep this job belongs to, and the best rows so far."""
    sweep = d.sweep
    if sweep is None:
        return
    s = sweep.state
    st.markdown(f"**Sweep {s.sweep_id}**")
    if sweep.search is not None:  # a TPE search: its rounds, read now (every refresh)
        p = sweep.search
        share = min(1.0, p.trials_evaluated / p.budget) if p.budget else 0.0
        st.progress(share, text=jobs_service.search_text(p))
        (st.error if p.state == "stopped" else st.caption)(p.message)
        if p.continue_command:
            st.code(p.continue_command, language="bash")
    st.progress(sweep.fraction, text=sweep.text())
    if s.collected:
        st.caption("Collected: the summary holds every chunk written.")
    elif sweep.why_not and d.record.is_terminal:
        st.caption(f"Not resumable now: {sweep.why_not}.")
    elif sweep.resumable and d.record.is_terminal:
        bucket = [] if s.bucket == ctx.settings.result_bucket else ["--bucket", s.bucket]
        command = cli_hints.terminal_line(["resume", s.sweep_id, *bucket])
        what = (
            f"{len(s.to_rerun):,} chunk(s)"
            if s.walk_forward is None
            else f"{len(s.to_rerun):,} full-sample and {len(s.wf_to_rerun):,} walk-forward "
            "in-sample chunk(s)"
        )
        st.caption(
            f"{what} have no results. Resume reruns only those, then collects "
            f"(from a terminal: {command})."
        )
    if s.done and not s.collected:
        read = s.done[: jobs_service.PARTIAL_CHUNKS]
        try:
            frames = [loaders.sweep_chunk(s.bucket, s.sweep_id, i) for i in read]
        except ProjectError as exc:
            st.caption(f"Partial results unavailable: {exc}")
            return
        best = jobs_service.best_so_far(frames)
        rows = sum(len(f) for f in frames)
        scope = (
            f"{len(read):,} finished chunks"
            if len(read) == len(s.done)
            else f"the first {len(read):,} of {len(s.done):,} finished chunks"
        )
        st.caption(f"Best so far by Sharpe, among {rows:,} rows of {scope} (refreshes live)")
        st.dataframe(best, hide_index=True, width="stretch")


def show_child_log(d: jobs_service.JobDetail) -> None:
    """Pick a child index -> its log."""
    size = d.record.array_size or 0
    if not size:
        return
    if int(ss.get("jobs_child", 0)) >= size:
        ss["jobs_child"] = 0  # picked on a larger array
    index = st.number_input(
        f"Child index (0..{size - 1}) for its log",
        min_value=0,
        max_value=size - 1,
        value=0,
        key="jobs_child",
    )
    try:
        child = jobs_service.child_id(d.record, int(index))
        text = jobs_service.job_logs(ctx, child, int(ss.get("jobs_tail", 200)))
    except ProjectError as exc:
        st.error(str(exc))
        return
    st.caption(f"Log of child {child}")
    st.code(text or "(no output yet)", language=None)


def show_detail(job_id: str) -> None:
    """Status, progress, children and logs of one job, read now."""
    try:
        d = jobs_service.job_detail(ctx, job_id)
        log = jobs_service.job_logs(ctx, job_id, int(ss.get("jobs_tail", 200)))
    except ProjectError as exc:
        st.error(str(exc))
        return
    if ss.get("jobs_state_key") != (job_id, d.state_key):
        st.rerun()  # its state changed: redraw the whole page (selector, actions, links)
    r = d.record
    st.subheader(f"{r.name} · {r.status.value}")
    if r.status_reason:
        (st.error if r.status is JobStatus.FAILED else st.caption)(r.status_reason)
    st.dataframe(
        [{"field": k, "value": "" if v is None else str(v)} for k, v in d.fields.items()],
        hide_index=True,
        width="stretch",
    )
    if d.done_fraction is not None:
        st.progress(d.done_fraction, text=f"{jobs_service.progress_text(r)}")
        counts = st.columns(len(d.counts))
        for col, (state, n) in zip(counts, d.counts.items(), strict=True):
            col.metric(state.title(), n)
        if d.children is not None:
            st.dataframe(d.children, hide_index=True, width="stretch", height=240)
            size = d.record.array_size or 0
            if size > len(d.children):
                st.caption(f"First {len(d.children):,} of {size:,} children; counts cover all.")
    show_sweep(d)
    if r.array_size:
        show_child_log(d)  # an array parent has no output of its own
    else:
        st.code(log or "(no output yet)", language=None)
    now = datetime.now(UTC).strftime("%H:%M:%S")
    st.caption(f"Read {now} UTC" + (f", refreshing every {REFRESH_S} s" if d.live else ""))


st.fragment(run_every=REFRESH_S if detail.live else None)(show_detail)(job_id)
tail_col, refresh_col = st.columns([1, 3])
tail_col.number_input("Log lines", min_value=10, max_value=10_000, value=200, key="jobs_tail")
refresh_col.button("Refresh log", key="jobs_refresh", icon=":material/refresh:")

# -- actions (drawn for the state read above; a change of state reruns the page) ------------
with actions:
    confirm = ss.get("jobs_confirm")
    allowed = {"cancel": detail.can_cancel, "terminate": detail.can_terminate}
    if confirm and (confirm[1] != job_id or not allowed.get(confirm[0], False)):
        ss.pop("jobs_confirm", None)  # asked about another job, or one that has moved on
        confirm = None
    if confirm:
        action = confirm[0]
        what = (
            "sweep (its children and collect job)"
            if detail.sweep and action == "terminate"
            else "job"
        )
        st.warning(f"{action.title()} {what} {record.name} ({job_id})?")
        yes, no = st.columns(2)
        yes.button(
            f"Yes, {action}", key="jobs_yes", type="primary", on_click=_do, args=(action, job_id)
        )
        no.button("No", key="jobs_no", on_click=_no)

    buttons = st.columns(5)
    if detail.can_cancel:
        buttons[0].button("Cancel", key="jobs_cancel", on_click=_ask, args=("cancel", job_id))
    elif detail.can_terminate:
        buttons[0].button(
            "Terminate", key="jobs_terminate", on_click=_ask, args=("terminate", job_id)
        )
    if detail.can_rerun:
        buttons[1].button("Rerun", key="jobs_rerun", on_click=_do, args=("rerun", job_id))
    if detail.sweep is not None and detail.sweep.resumable and record.is_terminal:
        missing = detail.sweep.state.n_to_rerun
        buttons[2].button(
            f"Resume {missing} chunk(s)" if missing else "Resume: collect",
            key="jobs_resume",
            on_click=_do,
            args=("resume", job_id),
            help=(
                f"Rerun only the {missing} chunk(s) with no results, then collect the sweep"
                if missing
                else "Every chunk is there: submit the collect job again"
            ),
        )
    if detail.rerun_query and buttons[3].button("Rerun with changes", key="jobs_rerun_changes"):
        st.switch_page(nav.NEW_RUN, query_params=detail.rerun_query)
    if detail.result:
        kind, result_id = detail.result
        with buttons[4]:
            if kind == "run":
                st.page_link(nav.RUN_RESULTS, label="Run results", query_params={"run": result_id})
            else:
                done = detail.sweep is None or detail.sweep.state.collected
                st.page_link(
                    nav.SWEEP_RESULTS,
                    label="Sweep results" if done else "Partial sweep results",
                    query_params={"sweep": result_id},
                )
