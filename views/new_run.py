"""New run: files + strategy + a form generated from the registry; one run per file, or a sweep.

Prefilled from the URL: ?file=a.csv,b.csv&strategy=sma_cross&params={"fast":5} or p_fast=5,
options={"commission":0.002}, space={"fast":"5:50:5"} (a sweep).
"""

import json
from dataclasses import replace
from typing import Any

import streamlit as st

from app import auth, forms, loaders, submit_service
from app.forms import AxisInput, FieldSpec
from engine.errors import BacktestError, InfraError
from engine.strategies import STRATEGIES, get_strategy

st.title("New run")
ctx = loaders.get_context()
settings = ctx.settings
ss = st.session_state

# -- prefill from the URL (applied once per distinct link) ------------------------------------
query = st.query_params.to_dict()
prefill = forms.prefill_from_query(query)
signature = json.dumps(query, sort_keys=True)
if ss.get("nr_query") != signature:
    ss["nr_query"] = signature
    if prefill.files:
        ss["nr_files"] = prefill.files
    if prefill.strategy:
        ss["nr_strategy"] = prefill.strategy
    name = prefill.strategy or ss.get("nr_strategy", "sma_cross")
    for pname, value in prefill.params.items():
        ss[f"nr_p_{name}_{pname}"] = value
        ss[f"nr_s_{name}_{pname}_mode"] = "fixed"
    for oname, value in prefill.options.items():
        ss[f"nr_o_{oname}"] = 0.0 if value is None else value
    if prefill.space:
        ss["nr_mode"] = "Sweep"
        for pname, text in prefill.space.items():
            ss[f"nr_s_{name}_{pname}_mode"] = "list"
            ss[f"nr_s_{name}_{pname}_text"] = text
for problem in prefill.problems:
    st.warning(f"Link: {problem}")


def number_widget(spec: FieldSpec, key: str, label: str | None = None) -> Any:
    """A number_input for an int/float FieldSpec (session state holds the value)."""
    ss.setdefault(key, spec.default)
    return st.number_input(
        label or spec.label,
        min_value=spec.min_value,
        max_value=spec.max_value,
        step=spec.step,
        help=spec.help or None,
        key=key,
    )


def field_widget(spec: FieldSpec, key: str) -> Any:
    """One widget for a FieldSpec: number_input, checkbox or selectbox."""
    if spec.widget == "number":
        return number_widget(spec, key)
    ss.setdefault(key, spec.default)
    if spec.widget == "checkbox":
        return st.checkbox(spec.label, help=spec.help or None, key=key)
    return st.selectbox(spec.label, list(spec.options), help=spec.help or None, key=key)


def axis_widget(spec: FieldSpec, prefix: str) -> AxisInput:
    """Sweep input for one parameter: fixed value, a list 'a,b,c' or a range start/stop/step."""
    ss.setdefault(f"{prefix}_mode", "fixed")
    mode = st.segmented_control(
        f"{spec.name}", forms.SWEEP_MODES, key=f"{prefix}_mode", help=spec.help or None
    )
    if mode == "list":
        ss.setdefault(f"{prefix}_text", str(spec.default))
        text = st.text_input(
            f"{spec.name} values", key=f"{prefix}_text", help="comma-separated, e.g. 5,10,20"
        )
        return AxisInput("list", text=text)
    if mode == "range" and spec.widget == "number":
        cols = st.columns(3)
        values = []
        defaults = forms.range_defaults(spec)
        for col, part, default in zip(cols, ("start", "stop", "step"), defaults, strict=True):
            ss.setdefault(f"{prefix}_{part}", default)
            with col:
                values.append(number_widget(spec, f"{prefix}_{part}", f"{spec.name} {part}"))
        return AxisInput("range", start=values[0], stop=values[1], step=values[2])
    if mode == "range":
        st.caption(f"{spec.name} is {spec.kind}: use a list")
    return AxisInput("fixed", value=field_widget(spec, f"nr_p_{strategy_name}_{spec.name}"))


# -- inputs -----------------------------------------------------------------------------------
try:
    files_available = loaders.input_files()
except (BacktestError, InfraError) as exc:
    st.error(str(exc))
    st.stop()
if not files_available:
    st.info(f"No price files in the input bucket {settings.input_bucket!r} yet.")
    st.page_link("views/data.py", label="Upload one on Data", icon=":material/upload:")
    st.stop()

missing = [f for f in ss.get("nr_files", []) if f not in files_available]
if missing:
    st.warning(f"Not in the input bucket: {', '.join(missing)}")
    ss["nr_files"] = [f for f in ss["nr_files"] if f in files_available]
files = st.multiselect(
    "Input files (one run per file)",
    files_available,
    key="nr_files",
    placeholder="pick one or more price files",
)
ss.setdefault("nr_strategy", "sma_cross")
strategy_name = st.selectbox("Strategy", sorted(STRATEGIES), key="nr_strategy")
strategy = get_strategy(strategy_name)
st.caption(strategy.description)
ss.setdefault("nr_mode", "Single run")
mode = st.radio("What to run", ["Single run", "Sweep"], key="nr_mode", horizontal=True)

st.subheader("Parameters")
rules = forms.constraint_text(strategy)
if rules:
    st.caption("Rules: " + "; ".join(rules))
param_values: dict[str, Any] = {}
axes: dict[str, AxisInput] = {}
for spec in forms.param_fields(strategy):
    if mode == "Sweep":
        axes[spec.name] = axis_widget(spec, f"nr_s_{strategy_name}_{spec.name}")
    else:
        param_values[spec.name] = field_widget(spec, f"nr_p_{strategy_name}_{spec.name}")
if not strategy.params:
    st.caption("This strategy has no parameters.")

with st.expander("Costs and simulation", icon=":material/tune:"):
    option_values = {o.name: field_widget(o, f"nr_o_{o.name}") for o in forms.option_fields()}

sample: dict[str, Any] = {}
if mode == "Sweep":
    cols = st.columns(3)
    ss.setdefault("nr_sweep_kind", "grid")
    sample["mode"] = cols[0].selectbox("Sweep", ["grid", "random"], key="nr_sweep_kind")
    if sample["mode"] == "random":
        ss.setdefault("nr_sweep_n", 100)
        ss.setdefault("nr_sweep_seed", 0)
        sample["n"] = cols[1].number_input("n (samples)", min_value=1, key="nr_sweep_n")
        sample["seed"] = cols[2].number_input("seed", min_value=0, key="nr_sweep_seed")

# -- guard: validate before anything can be submitted -----------------------------------------
if not files:
    st.info("Pick at least one input file.")
    st.stop()
try:
    options = forms.parse_options(option_values)
    if mode == "Single run":
        params = forms.parse_params(strategy_name, param_values)
    else:
        fixed, space = forms.build_space(strategy_name, axes)
        sweep = submit_service.build_sweep_spec(
            ctx, files, strategy_name, fixed, space, options=options, **sample
        )
        bars = [loaders.bar_count(settings.input_bucket, f) for f in files]
        estimate = submit_service.estimate_sweep(
            sweep,
            bars,
            backend=settings.backend,
            vcpu_hour=settings.fargate_vcpu_hour,
            gb_hour=settings.fargate_gb_hour,
        )
except (BacktestError, InfraError) as exc:
    st.error(str(exc))
    st.button("Submit", key="nr_submit", type="primary", disabled=True)
    st.stop()

# -- submit -----------------------------------------------------------------------------------
user = st.session_state.get(auth.SESSION_USER)  # the signed-in user when login is on
if mode == "Single run":
    label = f"Submit {len(files)} run(s)"
    if not st.button(label, key="nr_submit", type="primary", icon=":material/send:"):
        st.stop()
    try:
        records = submit_service.submit_runs(ctx, files, strategy_name, params, options, user=user)
    except (BacktestError, InfraError) as exc:
        st.error(str(exc))
        st.stop()
    loaders.invalidate()
    st.success(f"Submitted {len(records)} run(s) as {ctx.executor.backend} job(s).")
    for record in records:
        run_id = str((record.spec or {}).get("run_id", ""))
        link_cols = st.columns(2)
        with link_cols[0]:
            st.page_link(
                "views/jobs.py", label=f"Job {record.name}", query_params={"job": record.id}
            )
        with link_cols[1]:
            st.page_link(
                "views/run_results.py", label=f"Results of {run_id}", query_params={"run": run_id}
            )
    st.stop()

metric_cols = st.columns(4)
metric_cols[0].metric(
    "Combinations",
    f"{estimate.n_backtests:,}",
    help=f"{estimate.n_combinations:,} valid per file x {estimate.n_files} file(s); "
    f"{estimate.n_dropped:,} of {estimate.n_candidates:,} candidates break a rule",
)
metric_cols[1].metric(
    "Children", f"{estimate.n_children:,}", help=f"{estimate.chunk_size:,} per child"
)
metric_cols[2].metric(
    "Compute time",
    submit_service.format_duration(estimate.compute_seconds),
    help="total over all children, at the measured cost per bar and combination",
)
if estimate.fargate_usd is not None:
    metric_cols[3].metric(
        "Fargate cost",
        f"${estimate.fargate_usd:,.2f}",
        help=f"list prices ${settings.fargate_vcpu_hour}/vCPU-h, ${settings.fargate_gb_hour}/GB-h",
    )
if not st.button("Submit sweep", key="nr_submit", type="primary", icon=":material/send:"):
    st.stop()
try:
    base = replace(sweep.base, user=user or sweep.base.user)
    record = submit_service.submit_sweep(ctx, replace(sweep, base=base))
except submit_service.SweepsUnavailable as exc:
    st.info(str(exc))
    st.stop()
except (BacktestError, InfraError) as exc:
    st.error(str(exc))
    st.stop()
loaders.invalidate()
st.success(f"Submitted sweep {sweep.sweep_id}.")
st.page_link("views/jobs.py", label=f"Job {record.name}", query_params={"job": record.id})
st.page_link(
    "views/sweep_results.py", label="Sweep results", query_params={"sweep": sweep.sweep_id}
)
