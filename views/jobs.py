"""Jobs: a live table (refreshed in a fragment), one job's detail, log, controls and reruns."""

from datetime import UTC, datetime

import streamlit as st

from app import data_service, jobs_service, loaders
from engine.errors import BacktestError, InfraError
from jobs.model import JobStatus

REFRESH_S = 2
PER_PAGE = 50
MAX_CHOICES = 200

st.title("Jobs")
ctx = loaders.get_context()
ss = st.session_state
st.caption(f"Backend: {ctx.backend_label}. Times are UTC.")


def _flash(kind: str, text: str) -> None:
    ss["jobs_flash"] = (kind, text)


def _select_from_url() -> None:
    chosen = ss.get("jobs_selected")
    if chosen:
        st.query_params["job"] = chosen
    else:
        st.query_params.pop("job", None)


def _ask(action: str, job_id: str) -> None:
    ss["jobs_confirm"] = (action, job_id)


def _no() -> None:
    ss.pop("jobs_confirm", None)


def _do(action: str, job_id: str) -> None:
    ss.pop("jobs_confirm", None)
    calls = {
        "cancel": jobs_service.cancel_job,
        "terminate": jobs_service.terminate_job,
        "rerun": jobs_service.retry_job,
    }
    try:
        record = calls[action](ctx, job_id)
    except (BacktestError, InfraError) as exc:
        _flash("error", str(exc))
        return
    loaders.invalidate()
    if action == "rerun":
        ss["jobs_selected"] = record.id
        st.query_params["job"] = record.id
        _flash("success", f"Submitted again as job {record.id}")
    else:
        _flash("success", f"Job {job_id} is now {record.status.value}")


flash = ss.pop("jobs_flash", None)
if flash:
    (st.success if flash[0] == "success" else st.error)(flash[1])

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
    except (BacktestError, InfraError) as exc:
        st.error(str(exc))
        return
    n_pages = data_service.page_count(len(frame), PER_PAGE)
    page = st.pagination(n_pages, key="jobs_page") if n_pages > 1 else 1
    shown = data_service.page_slice(frame, page, PER_PAGE)
    st.dataframe(shown, hide_index=True, width="stretch")
    now = datetime.now(UTC).strftime("%H:%M:%S")
    st.caption(f"{len(frame):,} job(s), newest first · refreshed {now} UTC")


live_table(status, name, window)

# -- one job ----------------------------------------------------------------------------------
try:
    frame = loaders.jobs_table(status, name, window)
except (BacktestError, InfraError) as exc:
    st.error(str(exc))
    st.stop()
choices = list(frame["id"][:MAX_CHOICES])
labels = {r.id: f"{r.name} · {r.status}" for r in frame.head(MAX_CHOICES).itertuples()}
wanted = st.query_params.get("job")
if wanted and wanted not in choices:
    choices.insert(0, wanted)
if wanted and ss.get("jobs_selected") is None:
    ss["jobs_selected"] = wanted
current = ss.get("jobs_selected")
if current and current not in choices:
    choices.insert(0, current)
if not choices:
    st.info("No jobs yet.")
    st.page_link("views/new_run.py", label="Start a run", icon=":material/play_arrow:")
    st.stop()
job_id = st.selectbox(
    "Job",
    choices,
    index=None,
    key="jobs_selected",
    format_func=lambda i: f"{labels.get(i, 'job')} · {i}",
    on_change=_select_from_url,
    placeholder="select a job for its detail and log",
)
if not job_id:
    st.stop()

try:
    detail = jobs_service.job_detail(ctx, job_id)
except (BacktestError, InfraError) as exc:
    st.error(str(exc))
    st.stop()
record = detail.record


def show_detail(job_id: str) -> None:
    """Status, progress, children and the log tail of one job."""
    try:
        d = jobs_service.job_detail(ctx, job_id)
        log = jobs_service.job_logs(ctx, job_id, int(ss.get("jobs_tail", 200)))
    except (BacktestError, InfraError) as exc:
        st.error(str(exc))
        return
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
    st.code(log or "(no output yet)", language=None)


if record.is_terminal:
    show_detail(job_id)
else:
    st.fragment(run_every=REFRESH_S)(show_detail)(job_id)
tail_col, refresh_col = st.columns([1, 3])
tail_col.number_input("Log lines", min_value=10, max_value=10_000, value=200, key="jobs_tail")
refresh_col.button("Refresh log", key="jobs_refresh", icon=":material/refresh:")

# -- actions ----------------------------------------------------------------------------------
confirm = ss.get("jobs_confirm")
if confirm and confirm[1] == job_id:
    action = confirm[0]
    st.warning(f"{action.title()} job {record.name} ({job_id})?")
    yes, no = st.columns(2)
    yes.button(
        f"Yes, {action}", key="jobs_yes", type="primary", on_click=_do, args=(action, job_id)
    )
    no.button("No", key="jobs_no", on_click=_no)

buttons = st.columns(4)
if record.status.is_queued:
    buttons[0].button("Cancel", key="jobs_cancel", on_click=_ask, args=("cancel", job_id))
elif not record.is_terminal:
    buttons[0].button("Terminate", key="jobs_terminate", on_click=_ask, args=("terminate", job_id))
if record.is_terminal and record.parent_id is None:
    buttons[1].button("Rerun", key="jobs_rerun", on_click=_do, args=("rerun", job_id))
if detail.rerun_query and buttons[2].button("Rerun with changes", key="jobs_rerun_changes"):
    st.switch_page("views/new_run.py", query_params=detail.rerun_query)
if detail.result:
    kind, result_id = detail.result
    with buttons[3]:
        if kind == "run":
            st.page_link(
                "views/run_results.py", label="Run results", query_params={"run": result_id}
            )
        else:
            st.page_link(
                "views/sweep_results.py", label="Sweep results", query_params={"sweep": result_id}
            )
