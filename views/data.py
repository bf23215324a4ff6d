"""Data: browse buckets and folders, preview and validate price files, upload, delete."""

import streamlit as st

from app import charts, data_service, loaders
from engine.errors import BacktestError, InfraError

st.title("Data")
ctx = loaders.get_context()
ss = st.session_state


def _flash(kind: str, text: str) -> None:
    ss["data_flash"] = (kind, text)


def _reset_folder() -> None:
    ss["data_prefix"] = ""
    ss["data_file"] = None


def _open_folder() -> None:
    choice = ss.get("data_open")
    if choice:
        ss["data_prefix"] = choice
        ss["data_file"] = None
    ss["data_open"] = None


def _up() -> None:
    ss["data_prefix"] = data_service.parent_prefix(ss.get("data_prefix", ""))
    ss["data_file"] = None


def _ask_delete(key: str) -> None:
    ss["data_confirm_delete"] = key


def _cancel_delete() -> None:
    ss.pop("data_confirm_delete", None)


def _delete(bucket: str, key: str) -> None:
    ss.pop("data_confirm_delete", None)
    try:
        data_service.delete_file(ctx, bucket, key)
    except (BacktestError, InfraError) as exc:
        _flash("error", str(exc))
        return
    loaders.invalidate()
    ss["data_file"] = None
    _flash("success", f"Deleted {ctx.store.uri(bucket, key)}")


flash = ss.pop("data_flash", None)
if flash:
    (st.success if flash[0] == "success" else st.error)(flash[1])

try:
    buckets = loaders.buckets()
except (BacktestError, InfraError) as exc:
    st.error(str(exc))
    st.stop()

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
        try:
            key = data_service.upload_file(ctx, upload.name, upload.getvalue(), target)
        except (BacktestError, InfraError) as exc:
            st.error(f"Not uploaded: {exc}")
        else:
            loaders.invalidate()
            st.success(f"Uploaded {ctx.store.uri(ctx.settings.input_bucket, key)}")

prefix = ss.get("data_prefix", "") or ""
try:
    listing = loaders.listing(bucket, prefix)
except (BacktestError, InfraError) as exc:
    st.error(str(exc))
    st.stop()

if not listing.exists:
    st.info(f"Bucket {bucket!r} does not exist yet in {ctx.store.describe()}.")
    st.stop()

nav = st.columns([1, 3])
nav[0].button(
    "Up", key="data_up", on_click=_up, disabled=not listing.prefix, icon=":material/arrow_upward:"
)
if listing.dirs:
    nav[1].selectbox(
        "Open folder",
        listing.dirs,
        index=None,
        key="data_open",
        on_change=_open_folder,
        placeholder=f"{len(listing.dirs)} folder(s) here",
    )
st.caption(f"{ctx.store.uri(bucket, listing.prefix)}")

text = st.text_input("Filter by name", key="data_filter", placeholder="part of a file name")
objects = data_service.filter_objects(listing.objects, text)
n_pages = data_service.page_count(len(objects))
page = st.pagination(n_pages, key="data_page") if n_pages > 1 else 1
shown = data_service.page_slice(objects, page)
st.caption(
    f"{len(objects):,} of {len(listing.objects):,} object(s)"
    + (f" · page {page} of {n_pages}" if n_pages > 1 else "")
)
st.dataframe(
    shown[["name", "size", "modified"]],
    hide_index=True,
    width="stretch",
    column_config={
        "size": st.column_config.NumberColumn("size (bytes)", format="%d"),
        "modified": st.column_config.DatetimeColumn("modified"),
    },
)
if shown.empty:
    st.info("No objects here." if not text else "No object matches the filter.")
    st.stop()

chosen = st.selectbox(
    "Preview a file",
    list(shown["key"]),
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

try:
    preview = loaders.preview(bucket, key)
except (BacktestError, InfraError) as exc:
    st.error(str(exc))
    st.stop()

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
cols[1].metric("First", str(summary["first"]))
cols[2].metric("Last", str(summary["last"]))
cols[3].metric("Format", str(summary["format"]))
st.dataframe(preview.head, width="stretch")
if preview.prices is not None:
    st.plotly_chart(charts.price_chart(preview.prices), width="stretch")
if bucket == ctx.settings.input_bucket:
    st.page_link(
        "views/new_run.py",
        label="Backtest this file",
        icon=":material/play_arrow:",
        query_params={"file": key},
    )
