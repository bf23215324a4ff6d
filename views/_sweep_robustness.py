"""The Robustness tab of Sweep results (not a routed page): every statistic with its meaning
and a verdict against a stated threshold, collect's in/out-of-sample table, the PBO logit
distribution and the in-sample vs out-of-sample scatter (both recomputed from the stored
per-period returns, cached per finished sweep)."""

from __future__ import annotations

import streamlit as st

from app import loaders, sweep_charts
from app import sweep_robustness as rob
from app import sweep_service as ss


@st.cache_data(ttl=loaders.SWEEP_TTL, show_spinner="Recomputing PBO ...", max_entries=8)
def _recomputed(scope: str, sweep_id: str) -> rob.Recomputed:
    return rob.recompute(loaders.get_context(), loaders.load_sweep(sweep_id))


def robustness_tab(view: ss.SweepView) -> None:
    """The statistics, then the two charts."""
    if view.robustness is None:
        st.info("Robustness statistics appear once the sweep is collected.")
        return
    table = rob.verdicts(view.robustness)
    st.dataframe(
        table,
        hide_index=True,
        column_config={"meaning": st.column_config.TextColumn(width="large")},
    )
    oos = ss.oos_table(view.robustness)
    if not oos.empty:
        st.caption("Collect's combinations chosen in-sample, with their out-of-sample Sharpe:")
        st.dataframe(oos, hide_index=True)
    extra = _recomputed(repr(loaders.get_context().settings), view.sweep_id)
    if extra.logits is None:
        st.caption(f"PBO chart: not available ({extra.pbo_note}).")
    else:
        option = sweep_charts.histogram_option(
            extra.logits, title="PBO: logit of the in-sample winner's out-of-sample rank",
            x_name="logit (below 0: under the out-of-sample median)", threshold=0.0,
        )  # fmt: skip
        share = float((extra.logits <= 0).mean())
        alt = f"Histogram: PBO logits; {len(extra.logits):,} splits; {share:.1%} at or below 0"
        st.echarts_chart(option, key="sweep_pbo_logits", height=360, alt=alt)
        st.caption(
            f"PBO = the share of splits at or left of the dashed line at 0: {share:.1%}. "
            f"{extra.pbo_note}."
        )
    if extra.points is None:
        st.caption(f"In- vs out-of-sample scatter: not available ({extra.points_note}).")
        return
    option = sweep_charts.scatter_option(
        extra.points, title="Sharpe in sample vs out of sample", x="is_sharpe", y="oos_sharpe",
        tip={"combination": "combination", "is_sharpe": "in-sample Sharpe",
             "oos_sharpe": "out-of-sample Sharpe"},
    )  # fmt: skip
    alt = f"Scatter: in-sample vs out-of-sample Sharpe; {len(extra.points):,} combinations"
    st.echarts_chart(option, key="sweep_is_oos", height=420, alt=alt)
    corr = rob.rank_correlation(extra.points["is_sharpe"], extra.points["oos_sharpe"])
    said = "not defined" if corr is None else f"{corr:.2f}"
    st.caption(
        f"{extra.points_note}. Dashed: out of sample = in sample. Rank correlation "
        f"{said} (near 0 or below: ranking by in-sample Sharpe says little about the holdout)."
    )
