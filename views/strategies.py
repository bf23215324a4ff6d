"""Strategies: the built-ins and the team's strategy files; upload or edit, validate, try, save,
delete.

A stored strategy is ``strategies/<NAME>.py`` in the input bucket with a sidecar recording its
schema, sha256, who and when. This page never imports a strategy file: Validate runs it in a
subprocess (time and memory limits) and the list reads the sidecars. "Try" submits an ordinary
single run of the saved file through the submit service; it runs in the executor. With login on
only a signed-in user may save or delete, and the change records that user.
"""

from typing import Any

import pandas as pd
import streamlit as st
from code_editor import code_editor

from app import auth, loaders, strategy_service, submit_service
from app.strategy_service import SHA_SHORT, EditorState, StrategyRow
from engine.errors import ProjectError
from engine.spec import SimOptions
from views import _pages as nav
from views._guard import page_errors

st.title("Strategies")
ctx = loaders.get_context()
ss = st.session_state
EDITOR = "sg_editor"  # the source buffer (strategy_service.EditorState)
ss.setdefault(EDITOR, EditorState())
signed_in = ss.get(auth.SESSION_USER)
with page_errors():
    config = auth.auth_config()
blocked = strategy_service.may_change(config, signed_in)


def flash(kind: str, text: str) -> None:
    ss["sg_flash"] = (kind, text)


def show_flash() -> None:
    kind, text = ss.pop("sg_flash", (None, ""))
    if kind:
        getattr(st, kind)(text)


def param_table(row: StrategyRow | Any) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"parameter": p.name, "type": p.allowed(), "default": str(p.default), "help": p.help}
            for p in row.params
        ],
        columns=["parameter", "type", "default", "help"],
    )


def provenance(row: StrategyRow) -> str:
    return f"sha256 {row.sha256} · added by {row.added_by or '-'} at {row.added_at or '-'}"


# Everything above the editor sits in one container, so the editor keeps its place in the
# page whatever is shown above it (a flash, the selected strategy's buttons): a custom
# component that moves is mounted afresh, and a fresh one would not get its text back.
with st.container():
    show_flash()
    with page_errors():
        rows = strategy_service.catalogue(ctx)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "name": r.name,
                    "kind": r.kind,
                    "description": r.description,
                    "parameters": r.params_text(),
                    "rules": "; ".join(r.constraints),
                    "sha256": r.sha256[:SHA_SHORT],
                    "added by": r.added_by,
                    "added at": r.added_at,
                }
                for r in rows
            ]
        ),
        hide_index=True,
    )

    # -- one strategy ---------------------------------------------------------------------------
    names = [r.name for r in rows]
    wanted = st.query_params.get("strategy")
    if wanted in names and ss.get("sg_url") != wanted:
        ss["sg_url"] = wanted
        ss["sg_selected"] = wanted
    if ss.get("sg_select_next") in names:
        ss["sg_selected"] = ss.pop("sg_select_next")
    if ss.get("sg_selected") not in names:
        ss["sg_selected"] = names[0]
    name = st.selectbox("Strategy", names, key="sg_selected")
    row = next(r for r in rows if r.name == name)
    st.subheader(name)
    st.write(row.description)
    if row.params:
        st.dataframe(param_table(row), hide_index=True)
    else:
        st.caption("No parameters.")
    if row.constraints:
        st.caption("Rules: " + "; ".join(row.constraints))
    if row.stored:
        st.caption(provenance(row))
        st.code(row.source, language="python", line_numbers=True)
    else:
        st.caption("Built-in: part of the engine image; it cannot be replaced or deleted.")
        if row.source:
            st.code(row.source, language="python", line_numbers=True)

    with page_errors(stop=False):
        files = loaders.input_files()
        try_cols = st.columns([3, 1])
        sample = try_cols[0].selectbox(
            "Try on a price file (one run with the default parameters)",
            files,
            key="sg_try_file",
            placeholder="no price files in the input bucket" if not files else "pick a file",
        )
        if try_cols[1].button(
            "Try", key="sg_try", icon=":material/play_arrow:", disabled=not files
        ):
            records = submit_service.submit_runs(
                ctx, [str(sample)], submit_service.RunChoice(name, {}, SimOptions()), user=signed_in
            )
            loaders.invalidate()
            run_id = str((records[0].spec or {}).get("run_id", ""))
            st.success(
                f"Submitted {name} on {sample} as {ctx.executor.backend} job {records[0].name}."
            )
            st.page_link(
                nav.JOBS, label=f"Job {records[0].name}", query_params={"job": records[0].id}
            )
            st.page_link(
                nav.RUN_RESULTS, label=f"Results of {run_id}", query_params={"run": run_id}
            )

    def ask_delete() -> None:
        ss["sg_confirm_delete"] = (row.name, row.sha256)

    def do_delete(target: str) -> None:
        ss.pop("sg_confirm_delete", None)
        try:
            user = strategy_service.change_user(config, signed_in, ctx.settings.user)
            strategy_service.delete(ctx, target, user=user)
        except ProjectError as exc:
            flash("error", f"Not deleted: {exc}")
            return
        ss.pop("sg_selected", None)
        flash("success", f"Deleted strategies/{target}.py (by {user})")

    if row.stored:
        pending = ss.get("sg_confirm_delete")
        if pending and pending[0] == row.name:
            st.warning(
                f"Delete strategies/{row.name}.py (sha256 {row.sha256[:SHA_SHORT]}, added by "
                f"{row.added_by or '-'})? Runs made with it keep their own copy."
            )
            cols = st.columns(2)
            cols[0].button("Yes, delete", key="sg_delete_yes", type="primary",
                           on_click=do_delete, args=(row.name,))  # fmt: skip
            cols[1].button(
                "Cancel", key="sg_delete_no", on_click=lambda: ss.pop("sg_confirm_delete")
            )
        else:
            st.button("Delete…", key="sg_delete", icon=":material/delete:", on_click=ask_delete,
                      disabled=blocked is not None, help=blocked)  # fmt: skip
        if st.button("Edit a copy below", key="sg_edit", icon=":material/edit:"):
            ss[EDITOR] = ss[EDITOR].load(row.source, f"{row.name}.py")
            st.rerun()

# -- add or replace -----------------------------------------------------------------------------
st.divider()
st.subheader("Add or replace a strategy")
if blocked:
    st.info(f"To save or delete, {blocked}.", icon=":material/lock:")
upload = st.file_uploader("Upload a .py file", type=["py"], key="sg_upload")
if upload is not None:
    data = upload.getvalue()
    marker = (upload.name, strategy_service.sha256_text(data.decode("utf-8", "replace")))
    if ss.get("sg_upload_seen") != marker:  # a new upload replaces the editor's text once
        ss["sg_upload_seen"] = marker
        try:
            ss[EDITOR] = ss[EDITOR].load(data.decode("utf-8"), upload.name)
        except UnicodeDecodeError:
            st.error(f"{upload.name}: not UTF-8 text; save the strategy file as UTF-8")
            st.stop()
st.markdown("**Source** (type or paste here; Validate and Save use exactly the text counted below)")
editor: EditorState = ss[EDITOR]
event = code_editor(
    editor.text,  # taken when the editor mounts (allow_reset off: typing is never reset)
    lang="python",
    height=[16, 30],  # lines: grows with the text, then scrolls
    key=editor.key,
    response_mode=["blur", "debounce"],  # the text reaches the page as you pause or leave
    props={
        "debounceChangePeriod": 500,
        "placeholder": 'NAME = "close_above_sma"\nDESCRIPTION = "..."\nPARAMS = {...}\n'
        "def signal(bars, p): ...",
    },
    options={"showLineNumbers": True, "tabSize": 4, "useSoftTabs": True},
)
ss[EDITOR] = editor = editor.apply(event)
source, filename = editor.text, editor.filename
sha = strategy_service.sha256_text(source)
st.caption(editor.describe(), help="the text the page holds: Validate and Save send these bytes")

act = st.columns(2)
if act[0].button("Validate", key="sg_validate", icon=":material/fact_check:"):
    try:
        info = strategy_service.validate(source, filename)
        ss["sg_checked"] = (sha, "ok", info)
    except ProjectError as exc:
        ss["sg_checked"] = (sha, "error", str(exc))
save = act[1].button("Save", key="sg_save", type="primary", icon=":material/save:",
                     disabled=blocked is not None, help=blocked)  # fmt: skip

checked = ss.get("sg_checked")
if checked and checked[0] == sha:  # a result shown is for the text shown
    if checked[1] == "error":
        st.error(f"Refused: {checked[2]}", icon=":material/block:")
    else:
        info = checked[2]
        st.success(f"Valid: {info.name} — {info.description}", icon=":material/check:")
        if info.params:
            st.dataframe(param_table(info), hide_index=True)
        if info.constraints:
            st.caption("Rules: " + "; ".join(info.constraints))


def store_it(expected: str | None) -> None:
    ss.pop("sg_confirm_replace", None)
    try:
        user = strategy_service.change_user(config, signed_in, ctx.settings.user)
        saved = strategy_service.save(
            ctx, ss[EDITOR].text, user=user, replace_sha256=expected,
            filename=ss[EDITOR].filename,
        )  # fmt: skip
    except ProjectError as exc:
        flash("error", f"Not saved: {exc}")
        return
    ss["sg_select_next"] = saved.name  # applied before the selectbox on the next run
    flash("success", f"Saved strategies/{saved.name}.py · {provenance(saved)}")


if save:
    with page_errors():
        info = strategy_service.validate(source, filename)
        ss["sg_checked"] = (sha, "ok", info)
        old = strategy_service.existing(ctx, str(info.name))
    if old is None:
        store_it(None)
        st.rerun()
    ss["sg_confirm_replace"] = (old.name, old.sha256, sha)

replace = ss.get("sg_confirm_replace")
if replace and replace[2] == sha:
    old_row = strategy_service.existing(ctx, replace[0])
    if old_row is not None:
        st.warning(
            f"strategies/{replace[0]}.py exists ({provenance(old_row)}). Replace it with this "
            f"text (sha256 {sha[:SHA_SHORT]})? Runs made with the old one keep their own copy."
        )
        cols = st.columns(2)
        cols[0].button("Replace", key="sg_replace_yes", type="primary",
                       on_click=store_it, args=(replace[1],))  # fmt: skip
        cols[1].button("Keep the stored one", key="sg_replace_no",
                       on_click=lambda: ss.pop("sg_confirm_replace"))  # fmt: skip
