"""New run: files + strategy + a form generated from the registry; one run per file, or a sweep.

Prefilled from the URL: ?file=a.csv,b.csv&strategy=sma_cross&params={"fast":5} or p_fast=5,
options={"commission":0.002}, space={"fast":"5:50:5"} (a sweep).

Numbers are text inputs checked by app.form_checks, so the value validated and submitted is
exactly the text shown; Submit is disabled, with the reasons beside it, while anything is
wrong (a field, a rule, a file too short for the warm-up). The confirmation is read back from
what the jobs layer recorded.
"""

import json
from dataclasses import replace
from typing import Any

import streamlit as st

from app import auth, form_checks, forms, loaders, rerun_source, strategy_service, submit_service
from app.form_checks import AxisInput, format_number
from app.forms import FieldSpec
from engine.errors import ParamError, ProjectError
from engine.sim.strategies import STRATEGIES, Param
from engine.sweep.spec import DEFAULT_MAX_COMBINATIONS, ParamSpace
from views import _pages as nav
from views import _search_form as search_form
from views import _walk_forward_form as wff
from views._guard import page_errors

NO_FILES = "pick at least one input file"
RANGE_HELP = {
    "start": "first value (within the parameter's range)",
    "stop": "last value at most (inclusive; within the parameter's range)",
    "step": "a positive step, whole for int parameters; not bound by the parameter's range",
}
SAMPLE_N = Param("n (samples)", "int", 100, 1, DEFAULT_MAX_COMBINATIONS)
SAMPLE_SEED = Param("seed", "int", 0, 0, 2**32 - 1)

st.title("New run")
ctx = loaders.get_context()
settings = ctx.settings
ss = st.session_state
problems: list[str] = []  # every reason Submit is disabled, shown beside it


def as_text(value: Any) -> Any:
    """Session-state value of a field: numbers as exact text, bools and choices as they are."""
    return value if isinstance(value, bool | str) else format_number(value)


# -- prefill from the URL (applied once per distinct link) ------------------------------------
with page_errors():  # built-ins, then the input bucket's stored strategies (their sidecars)
    catalogue = {r.name: r for r in strategy_service.catalogue(ctx)}
query = st.query_params.to_dict()


@st.cache_data(show_spinner="Reading the recorded strategy copy...", max_entries=64)
def copy_schema(source: str, origin: str) -> Any:
    """A recorded copy's schema (validation subprocess), cached per source."""
    return rerun_source.copy_row(source, origin)


# A link from a run of a strategy file (from_run / from_sweep): its recorded copy, and the file now
recorded = None
origin = rerun_source.origin_of(query)
link_strategy = str(query.get("strategy") or "")
if origin is not None and link_strategy and link_strategy not in STRATEGIES:
    current_row = catalogue.get(link_strategy)
    with page_errors():
        recorded = rerun_source.rerun_source(ctx, origin, link_strategy, current_row, copy_schema)
schemas = strategy_service.stored_schemas(list(catalogue.values()))
if recorded is not None and recorded.copy is not None:
    catalogue.setdefault(recorded.name, recorded.copy.row)  # removed since: the copy still runs
    schemas[recorded.name] = strategy_service.form_strategy(recorded.copy.row)
prefill = forms.prefill_from_query(query, schemas)
signature = json.dumps(query, sort_keys=True)
if ss.get("nr_query") != signature:
    ss["nr_query"] = signature
    ss["nr_source"] = "copy" if recorded is not None and recorded.copy is not None else "current"
    if prefill.files:
        ss["nr_files"] = prefill.files
    if prefill.strategy:
        ss["nr_strategy"] = prefill.strategy
    name = prefill.strategy or ss.get("nr_strategy", "sma_cross")
    for pname, value in prefill.params.items():
        ss[f"nr_p_{name}_{pname}"] = as_text(value)
        ss[f"nr_s_{name}_{pname}_mode"] = "fixed"
    for oname, value in prefill.options.items():
        ss[f"nr_o_{oname}"] = "" if value is None else as_text(value)
    if prefill.space:
        ss["nr_mode"] = "Sweep"
        for pname, text in prefill.space.items():
            ss[f"nr_s_{name}_{pname}_mode"] = "list"
            ss[f"nr_s_{name}_{pname}_text"] = text
for problem in prefill.problems:
    st.warning(f"Link: {problem}")


def checked(check: Any, *args: Any) -> Any:
    """``check(*args)``; on ParamError its line is shown under the field and Submit is off."""
    try:
        return check(*args)
    except ParamError as exc:
        problems.append(str(exc))
        st.error(str(exc), icon=":material/error:")
        return None


def text_field(
    spec: FieldSpec,
    key: str,
    label: str | None = None,
    default: Any = None,
    help_: str | None = None,
) -> str:
    """A text input for a number: shows exactly what will be checked and sent."""
    ss.setdefault(key, format_number(spec.default if default is None else default))
    return str(st.text_input(label or spec.label, key=key, help=help_ or spec.help or None))


def field_widget(spec: FieldSpec, key: str) -> Any:
    """One widget for a FieldSpec: a text input for numbers, else a checkbox or selectbox."""
    if spec.widget == "number":
        return text_field(spec, key)
    ss.setdefault(key, spec.default)
    if spec.widget == "checkbox":
        return st.checkbox(spec.label, help=spec.help or None, key=key)
    return st.selectbox(spec.label, list(spec.options), help=spec.help or None, key=key)


def axis_widget(spec: FieldSpec, prefix: str) -> AxisInput:
    """Sweep input for one parameter: fixed value, a list 'a,b,c' or a range start/stop/step."""
    ss.setdefault(f"{prefix}_mode", "fixed")
    mode = st.segmented_control(
        f"{spec.name}", form_checks.SWEEP_MODES, key=f"{prefix}_mode", help=spec.help or None
    )
    if mode == "list":
        ss.setdefault(f"{prefix}_text", format_number(spec.default))
        text = st.text_input(
            f"{spec.name} values", key=f"{prefix}_text", help="comma-separated, e.g. 5,10,20"
        )
        return AxisInput("list", text=text)
    if mode == "range" and spec.widget == "number":
        cols = st.columns(3)
        values = []
        defaults = forms.range_defaults(spec)
        for col, part, default in zip(cols, ("start", "stop", "step"), defaults, strict=True):
            with col:
                key = f"{prefix}_{part}"
                values.append(
                    text_field(spec, key, f"{spec.name} {part}", default, RANGE_HELP[part])
                )
        return AxisInput("range", start=values[0], stop=values[1], step=values[2])
    if mode == "range":
        st.caption(f"{spec.name} is {spec.kind}: use a list")
    return AxisInput("fixed", value=field_widget(spec, f"nr_p_{strategy_name}_{spec.name}"))


def submit_button(label: str) -> bool:
    """The Submit button; disabled, with every reason listed beside it, while anything is wrong."""
    if problems:
        st.button(label, key="nr_submit", type="primary", icon=":material/send:", disabled=True)
        reasons = "\n".join(f"- {p}" for p in dict.fromkeys(problems))
        if problems == [NO_FILES]:  # nothing is wrong yet: the form only needs a file
            st.info(f"Submit is disabled until you {NO_FILES}.", icon=":material/info:")
        else:
            st.error(f"Submit is disabled until this is fixed:\n{reasons}", icon=":material/block:")
        st.stop()
    return st.button(label, key="nr_submit", type="primary", icon=":material/send:")


# -- inputs -----------------------------------------------------------------------------------
with page_errors():
    files_available = loaders.input_files()
if not files_available:
    st.info(f"No price files in the input bucket {settings.input_bucket!r} yet.")
    st.page_link(nav.DATA, label="Upload one on Data", icon=":material/upload:")
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
if ss["nr_strategy"] not in catalogue:
    st.warning(f"Strategy {ss['nr_strategy']!r} is no longer stored; showing sma_cross.")
    ss["nr_strategy"] = "sma_cross"
strategy_name = st.selectbox(
    "Strategy",
    list(catalogue),
    key="nr_strategy",
    format_func=lambda n: f"{n} (stored)" if catalogue[n].stored else n,
)
row = catalogue[strategy_name]
pin: rerun_source.PinnedSource | None = None  # an old run's recorded copy, when chosen
if recorded is not None and recorded.copy is None:
    if strategy_name == recorded.name or recorded.name not in catalogue:
        st.warning(f"{recorded.problem} {recorded.status()}", icon=":material/history:")
elif recorded is not None and recorded.copy is not None and strategy_name == recorded.name:
    choices = ["copy", "current"] if recorded.current_sha256 else ["copy"]
    labels = {"copy": recorded.copy_label(), "current": recorded.current_label()}
    if ss.get("nr_source") not in choices:
        ss["nr_source"] = "copy"
    source_choice = st.radio(
        "Strategy source", choices, key="nr_source", format_func=labels.__getitem__,
        help="A rerun runs the exact source the old run recorded unless you choose the file "
        "as it is stored now",
    )  # fmt: skip
    st.caption(recorded.status())
    if source_choice == "copy":
        pin = recorded.copy
        row = pin.row
strategy = strategy_service.form_strategy(row)
st.caption(strategy.description)
if pin is not None:
    st.caption(
        f"Runs {pin.uri} · sha256 {pin.sha256[:12]} (the copy {pin.origin} ran); the new run "
        "records it as its own strategy.py"
    )
elif row.stored:
    st.caption(
        f"Stored strategy strategies/{row.name}.py · sha256 {row.sha256[:12]} · added by "
        f"{row.added_by or '-'} at {row.added_at or '-'}"
    )
ss.setdefault("nr_mode", "Single run")
mode = st.radio("What to run", ["Single run", "Sweep"], key="nr_mode", horizontal=True)

st.subheader("Parameters")
rules = forms.constraint_text(strategy)
if rules:
    st.caption("Rules: " + "; ".join(rules))
param_values: dict[str, Any] = {}
fixed: dict[str, Any] = {}
space: dict[str, ParamSpace] = {}
for spec in forms.param_fields(strategy):
    param = strategy.param(spec.name)
    if mode == "Sweep":
        value = checked(
            form_checks.check_axis, param, axis_widget(spec, f"nr_s_{strategy_name}_{spec.name}")
        )
        if isinstance(value, ParamSpace):
            space[spec.name] = value
            st.caption(f"{spec.name}: {form_checks.describe_space(value)}")
        elif value is not None:
            fixed[spec.name] = value
    else:
        raw = field_widget(spec, f"nr_p_{strategy_name}_{spec.name}")
        value = checked(form_checks.check_value, param, raw)
        if value is not None:
            param_values[spec.name] = value
if not strategy.params:
    st.caption("This strategy has no parameters.")

option_values: dict[str, Any] = {}
with st.expander("Costs and simulation", icon=":material/tune:"):
    option_specs = forms.option_fields()
    for i, o in enumerate(option_specs):
        if i % 3 == 0:  # rows of three, aligned
            option_cols = st.columns(3)
        with option_cols[i % 3]:
            before = len(problems)
            value = checked(form_checks.check_option, o, field_widget(o, f"nr_o_{o.name}"))
            if len(problems) == before:
                option_values[o.name] = value
                if o.name in ("commission", "slippage_bps", *forms.OPTIONAL_ZERO_OFF):
                    st.caption(form_checks.describe_option(o.name, value))

sample: dict[str, Any] = {}
if mode == "Sweep":  # grid, random (n, seed) or a TPE search (views/_search_form.py)
    sample = search_form.sweep_kind(checked, problems, files)

wf_choice = wff.walk_forward_options(problems) if mode == "Sweep" else wff.WalkForwardChoice()

# -- guard: everything checked before anything can be submitted --------------------------------
if not files:
    problems.append(NO_FILES)


@st.cache_data(show_spinner="Checking the strategy's rules...", max_entries=256)
def stored_rule_problem(
    params_json: str, sha256: str, _row: strategy_service.StrategyRow
) -> str | None:
    """The first broken rule of a stored strategy (cached per file sha256 and parameters)."""
    return strategy_service.rule_problem(_row, json.loads(params_json))


@st.cache_data(show_spinner="Counting combinations with the strategy's rules...", max_entries=32)
def _stored_sweep_stats(spec_key: str, _sweep: Any) -> tuple[int, int, int]:
    return tuple(strategy_service.stored_sweep_stats(ctx, _sweep))  # type: ignore[return-value]


def stored_sweep_stats(sweep: Any) -> Any:
    """A stored strategy's sweep counts, cached per content (its sha256 is in the spec)."""
    from engine.sweep.spec import ExpansionStats

    return ExpansionStats(*_stored_sweep_stats(replace(sweep, sweep_id="form").to_json(), sweep))


def bars_by_file() -> dict[str, int]:
    return {f: loaders.bar_count(settings.input_bucket, f) for f in files}


params: dict[str, Any] = {}
options = None
sweep = None
estimate = None
if not problems:
    try:
        options = form_checks.parse_options(option_values)
        if mode == "Single run":
            params = strategy.validate(param_values)
            if row.stored:  # its constraints are code: checked in the probe subprocess
                broken = stored_rule_problem(json.dumps(params, sort_keys=True), row.sha256, row)
                problems += [broken] if broken else []
            what = f"{strategy_name}({form_checks.params_text(params)})"
            problems += form_checks.bar_problems(bars_by_file(), strategy.warmup(params), what)
        elif not space:
            problems.append("a sweep needs at least one parameter given as a list or a range")
        else:
            choice = submit_service.SweepChoice(strategy_name, fixed, space, options, **sample)
            sweep = submit_service.sweep_for_files(ctx, files, choice)
            if row.stored:  # validated and counted with its rules in an engine subprocess
                sweep = strategy_service.pinned_sweep(
                    ctx, pin or row, sweep, holdout=wf_choice.holdout,
                    walk_forward=wf_choice.walk_forward,
                )  # fmt: skip
            else:
                sweep = wff.apply(sweep, wf_choice)  # holdout and walk-forward options (HF)
            bars = bars_by_file()
            warmup, corner = form_checks.sweep_warmup(strategy, fixed, space)
            what = f"the combination with {form_checks.params_text(corner)}"
            problems += form_checks.bar_problems(bars, warmup, what)
            estimate = (
                search_form.estimate(  # a TPE search: rounds x array size
                    sweep,
                    [bars[key] for key in sweep.source_keys],
                    submit_service.FargatePricing(
                        settings.fargate_vcpu_hour, settings.fargate_gb_hour
                    )
                    if settings.backend == "aws"
                    else None,
                )
                if sweep.mode == "tpe"
                else submit_service.estimate_sweep(
                    sweep,
                    [bars[key] for key in sweep.source_keys],
                    pricing=submit_service.FargatePricing(
                        settings.fargate_vcpu_hour, settings.fargate_gb_hour
                    )
                    if settings.backend == "aws"
                    else None,
                    stats=stored_sweep_stats(sweep) if row.stored else loaders.sweep_stats(sweep),
                )
            )
    except ProjectError as exc:
        problems.append(str(exc))

# -- submit -----------------------------------------------------------------------------------
user = st.session_state.get(auth.SESSION_USER)  # the signed-in user when login is on
if mode == "Single run":
    if not submit_button(form_checks.submit_label(mode, len(files))) or options is None:
        st.stop()
    with page_errors():
        records = submit_service.submit_runs(
            ctx, files, submit_service.RunChoice(strategy_name, params, options, pin), user=user
        )
        sent = submit_service.read_back_runs(ctx, records)
    loaders.invalidate()
    n_runs = form_checks.plural(len(records), "run")
    st.success(
        f"Submitted {n_runs} as {form_checks.plural(len(records), ctx.executor.backend + ' job')}."
    )
    for record, run_spec in zip(records, sent, strict=True):
        st.text(form_checks.describe_run(run_spec))
        st.caption("Options: " + "; ".join(form_checks.option_lines(run_spec.get("options") or {})))
        if run_spec.get("strategy_source"):  # a strategy file: the exact bytes this run loads
            st.caption(
                f"Strategy source: {run_spec['strategy_source']} · sha256 "
                f"{str(run_spec.get('strategy_sha256'))[:12]}"
            )
        run_id = str(run_spec.get("run_id", ""))
        link_cols = st.columns(2)
        with link_cols[0]:
            st.page_link(nav.JOBS, label=f"Job {record.name}", query_params={"job": record.id})
        with link_cols[1]:
            st.page_link(
                nav.RUN_RESULTS, label=f"Results of {run_id}", query_params={"run": run_id}
            )
    st.stop()

if sweep is None or estimate is None:  # only reached with problems: the button is disabled
    submit_button("Submit sweep")
    st.stop()
if isinstance(estimate, search_form.SearchEstimate):  # rounds x array size, its own label
    label = search_form.show_estimate(estimate, settings)
else:
    metric_cols = st.columns(4)
    metric_cols[0].metric(
        "Combinations",
        f"{estimate.n_backtests:,}",
        help=f"{form_checks.plural(estimate.n_combinations, 'valid combination')} per file x "
        f"{form_checks.plural(estimate.n_files, 'file')}; "
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
            submit_service.format_usd(estimate.fargate_usd),
            help=f"list prices ${settings.fargate_vcpu_hour}/vCPU-h, "
            f"${settings.fargate_gb_hour}/GB-h",
        )
    label = form_checks.submit_label(mode, estimate.n_files, estimate.n_combinations)
if not submit_button(label):
    st.stop()
try:
    base = replace(sweep.base, user=user or sweep.base.user)
    record = submit_service.submit_sweep(ctx, replace(sweep, base=base))
    sent_sweep = submit_service.read_back_sweep(ctx, sweep)
except (ProjectError, ValueError) as exc:
    st.error(str(exc))
    st.stop()
loaders.invalidate()
st.success(f"Submitted sweep {sweep.sweep_id}.")
for line in form_checks.describe_sweep(sent_sweep):
    st.text(line)
search_form.show_sent(sent_sweep)  # a TPE search's settings, as recorded
base_options = dict((sent_sweep.get("base") or {}).get("options") or {})
st.caption("Options: " + "; ".join(form_checks.option_lines(base_options)))
sent_base = sent_sweep.get("base") or {}
if sent_base.get("strategy_source"):  # the one copy every child and the collect load
    st.caption(
        f"Strategy source: {sent_base['strategy_source']} · sha256 "
        f"{str(sent_base.get('strategy_sha256'))[:12]}"
    )
st.page_link(nav.JOBS, label=f"Job {record.name}", query_params={"job": record.id})
st.page_link(nav.SWEEP_RESULTS, label="Sweep results", query_params={"sweep": sweep.sweep_id})
