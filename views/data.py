"""Data: browse buckets and folders, preview and validate price files, upload, delete."""

import streamlit as st

from app import charts, data_service, loaders
from app.results_service import date_format
from app.run_format import format_time
from engine.errors import ProjectError
from views import _pages as nav
from views._guard import page_errors

st.title("Data")
ctx = loaders.get_context()
ss = st.session_state


def _flash(kind: str, text: str) -> None:
    ss["data_flash"] = (kind, text)


def _fresh_table() -> None:
    """A new table key after navigation or a write: no selection carries over."""
    ss["data_rows_gen"] = ss.get("data_rows_gen", 0) + 1


def _reset_folder() -> None:
    ss["data_prefix"] = ""
    ss["data_file"] = None
    _fresh_table()


def _replace(key: str, folder: str, expected_sha256: str) -> None:
    upload = ss.get("data_upload_file")
    ss.pop("data_replace", None)
    if upload is None:
        _flash("error", "Not uploaded: the file is no longer selected")
        return
    try:
        data_service.upload_file(
            ctx, upload.name, upload.getvalue(), folder,
            replace=data_service.ReplaceConsent(expected_sha256),
        )  # fmt: skip
    except ProjectError as exc:
        _flash("error", f"Not uploaded: {exc}")
        return
    loaders.invalidate()
    _fresh_table()
    _flash("success", f"Replaced {ctx.store.uri(ctx.settings.input_bucket, key)}")


def _keep() -> None:
    ss.pop("data_replace", None)
    _flash("info", "Nothing was written; the old file stays.")


def _up() -> None:
    ss["data_prefix"] = data_service.parent_prefix(ss.get("data_prefix", ""))
    ss["data_file"] = None
    _fresh_table()


def _ask_delete(key: str) -> None:
    ss["data_confirm_delete"] = key


def _cancel_delete() -> None:
    ss.pop("data_confirm_delete", None)


def _delete(bucket: str, key: str) -> None:
    ss.pop("data_confirm_delete", None)
    try:
        data_service.delete_file(ctx, bucket, key)
    except ProjectError as exc:
        _flash("error", str(exc))
        return
    loaders.invalidate()
    ss["data_file"] = None
    _fresh_table()
    _flash("success", f"Deleted {ctx.store.uri(bucket, key)}")


goto = ss.pop("data_goto", None)  # a folder row was clicked on the previous run
if goto is not None:
    ss["data_prefix"] = goto
    ss["data_file"] = None
    _fresh_table()

flash = ss.pop("data_flash", None)
if flash:
    {"success": st.success, "info": st.info}.get(flash[0], st.error)(flash[1])

with page_errors():
    buckets = loaders.buckets()

left, right = st.columns([1, 2])
bucket = left.selectbox("Bucket", buckets, key="data_bucket", on_change=_reset_folder)
right.text_input("Folder (prefix)", key="data_prefix", placeholder="e.g. samples/")

with st.expander("Upload a price file", icon=":material/upload:"):
    st.caption(
        f"Files are validated by the engine before they are written to the input bucket "
        f"{ctx.settings.input_bucket!r}; limit {ctx.settings.upload_max_mb} MB."
    )
    upload = st.file_uploader("Price file", type=["csv", "parquet", "pq"], key="data_upload_file")
    target = st.text_input("Into folder", key="data_upload_prefix", placeholder="e.g. mine/")
    if st.button("Validate and upload", key="data_upload_go", disabled=upload is None) and upload:
        ss.pop("data_replace", None)
        try:
            check = data_service.check_upload(
                ctx, upload.name, upload.getvalue(), target, loaders.run_briefs()
            )
            if not check.replaces:
                data_service.upload_file(ctx, upload.name, upload.getvalue(), target)
        except ProjectError as exc:
            st.error(f"Not uploaded: {exc}")
        else:
            uri = ctx.store.uri(ctx.settings.input_bucket, check.key)
            if check.replaces:
                ss["data_replace"] = (check, upload.file_id)
            elif check.same_bytes:
                st.info(f"{uri} already holds exactly these bytes; nothing was written.")
            else:
                loaders.invalidate()
                st.success(f"Uploaded {uri}")
    pending = ss.get("data_replace")
    if pending and upload is not None and pending[1] == upload.file_id:
        check = pending[0]
        st.warning(
            data_service.replace_question(
                ctx.store.uri(ctx.settings.input_bucket, check.key), check
            )
        )
        yes, no = st.columns(2)
        yes.button("Replace it", key="data_replace_yes", type="primary", on_click=_replace,
                   args=(check.key, target, check.old_sha256))  # fmt: skip
        no.button("Keep the old file", key="data_replace_no", on_click=_keep)
    elif pending:
        ss.pop("data_replace", None)  # another file was chosen: the question is void

prefix = ss.get("data_prefix", "") or ""
with page_errors():
    listing = loaders.listing(bucket, prefix)

if not listing.exists:
    st.info(f"Bucket {bucket!r} does not exist yet in {ctx.store.describe()}.")
    st.stop()

st.button(
    "Up", key="data_up", on_click=_up, disabled=not listing.prefix, icon=":material/arrow_upward:"
)
st.caption(f"{ctx.store.uri(bucket, listing.prefix)}")

text = st.text_input("Filter by name", key="data_filter", placeholder="part of a file name")
rows = data_service.filter_objects(data_service.entries(listing), text)
n_pages = data_service.page_count(len(rows))
page = st.pagination(n_pages, key="data_page") if n_pages > 1 else 1
shown = data_service.page_slice(rows, page).reset_index(drop=True)
n_files = int((rows["kind"] == "file").sum())
n_dirs = len(rows) - n_files
st.caption(
    (f"{n_dirs:,} folder(s) · " if n_dirs else "")
    + f"{n_files:,} of {len(listing.objects):,} object(s)"
    + (f" · page {page} of {n_pages}" if n_pages > 1 else "")
    + " · click a row to open a folder or preview a file"
)
event = st.dataframe(
    data_service.entry_table(shown),
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    key=f"data_rows:{ss.get('data_rows_gen', 0)}:{bucket}:{listing.prefix}:{page}:{text}",
    column_config={
        "size": st.column_config.TextColumn("size (bytes)"),
        "modified": st.column_config.TextColumn("modified (UTC)"),
    },
)
if shown.empty:
    st.info("No objects here." if not text else "No object matches the filter.")
    st.stop()

picked = list(event.selection.rows) if event is not None else []
if picked and 0 <= picked[0] < len(shown):
    row = shown.iloc[picked[0]]
    if row["kind"] == "folder":
        ss["data_goto"] = str(row["key"])
        st.rerun()
    if ss.get("data_row_applied") != (bucket, str(row["key"])):
        ss["data_row_applied"] = (bucket, str(row["key"]))
        ss["data_file"] = str(row["key"])  # the file picker below follows the click

files = list(shown.loc[shown["kind"] == "file", "key"])
if not files:
    st.stop()
if ss.get("data_file") not in files:
    ss["data_file"] = None
chosen = st.selectbox(
    "Preview a file",
    files,
    index=None,
    key="data_file",
    placeholder="select a file",
)
if not chosen:
    st.stop()
key = str(chosen)

st.subheader(key)
if ss.get("data_confirm_delete") == key:
    st.warning(f"Delete {ctx.store.uri(bucket, key)}? This cannot be undone.")
    yes, no = st.columns(2)
    yes.button(
        "Yes, delete", key="data_delete_yes", type="primary", on_click=_delete, args=(bucket, key)
    )
    no.button("Keep it", key="data_delete_no", on_click=_cancel_delete)
else:
    st.button(
        "Delete", key="data_delete", icon=":material/delete:", on_click=_ask_delete, args=(key,)
    )

if not data_service.is_price_file(key):
    st.info("Not a price file (CSV or Parquet); no preview.")
    st.stop()

with page_errors():
    preview = loaders.preview(bucket, key)

if preview.verdict == "error":
    st.error(f"Invalid: {preview.messages[0]}", icon=":material/error:")
    st.stop()
if preview.verdict == "warnings":
    st.warning("Valid, with warnings:\n\n" + "\n\n".join(f"- {m}" for m in preview.messages))
else:
    st.success("Valid: the engine accepts this file.", icon=":material/check_circle:")

summary = preview.summary
cols = st.columns(4)
cols[0].metric("Bars", f"{summary['bars']:,}")
cols[1].metric("First", format_time(summary["first"]), help=str(summary["first"]))
cols[2].metric("Last", format_time(summary["last"]), help=str(summary["last"]))
cols[3].metric("Format", str(summary["format"]))
if preview.head is not None:
    head = preview.head.reset_index()
    st.dataframe(
        head,
        width="stretch",
        hide_index=True,
        column_config={
            "timestamp": st.column_config.DatetimeColumn(
                "timestamp", format=date_format(preview.prices.index if preview.prices is not
                                                None else head["timestamp"])
            )
        },
    )  # fmt: skip
if preview.prices is not None:
    st.plotly_chart(charts.price_chart(preview.prices), width="stretch")
if bucket == ctx.settings.input_bucket:
    st.page_link(
        nav.NEW_RUN,
        label="Backtest this file",
        icon=":material/play_arrow:",
        query_params={"file": key},
    )
