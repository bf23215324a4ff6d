"""Run results (?run=<run_id>): metrics, charts, trades, provenance and downloads of one run.

Without ?run= the page offers recent finished runs; the choice goes into the URL so a link can
be shared. Thin: read inputs -> guard -> one cached read (app.loaders) -> render.
"""

from __future__ import annotations

import json

import streamlit as st

from app import charts, loaders, new_run_link, run_format
from app import results_service as rs
from engine.errors import ProjectError
from views import _pages as nav
from views._guard import page_errors
from views._pickers import pick_run

st.title("Run results")


run_id = pick_run("run_results")
if not run_id:
    st.info("No run chosen. Pick one above, or submit one on New run and open it from Jobs.")
    st.page_link(nav.NEW_RUN, label="New run", icon=":material/play_arrow:")
    st.stop()

with page_errors():
    view = loaders.load_run(run_id)

if view.status == "failed":
    st.error(f"Run {run_id} failed: {view.message}")
    st.stop()
if view.status == "unfinished":
    st.info(f"Run {run_id} is not finished yet (no _SUCCESS marker). Reload when its job ends.")
    st.page_link(nav.JOBS, label="Watch it on Jobs", icon=":material/list:")
    st.stop()

header = rs.run_header(view)
st.subheader(header[0])
for line in header[1:]:
    st.caption(line)
ruin = rs.ruin_warning(view.metrics)
if ruin:
    st.error(ruin, icon=":material/dangerous:")
cards = rs.metric_cards(view.metrics)
per_row = run_format.CARDS_PER_ROW
for start in range(0, len(cards), per_row):
    for col, card in zip(st.columns(per_row), cards[start : start + per_row], strict=False):
        col.metric(card.label, card.value, help=card.help)

links = st.columns(3)
links[0].page_link(
    nav.NEW_RUN,
    label="Rerun with changes",
    icon=":material/edit:",
    query_params=new_run_link.rerun_query(view.spec),
    help="New run prefilled from this run; a strategy file runs the copy this run recorded "
    "(runs/<id>/strategy.py) unless you choose the current file there",
)
links[1].page_link(
    nav.COMPARE, label="Compare with others", icon=":material/compare:",
    query_params={"runs": run_id},
)  # fmt: skip

prices = None
try:
    prices = loaders.load_run_prices(view.spec)
except ProjectError as exc:
    price_problem = f"No price chart: {exc}"
else:
    price_problem = ""

tab_charts, tab_trades, tab_spec, tab_files = st.tabs(
    ["Charts", f"Trades ({len(view.trades):,})", "Parameters & provenance", "Downloads"]
)
with tab_charts:
    st.plotly_chart(charts.equity_chart(view.equity), key="equity")
    st.plotly_chart(charts.drawdown_chart(view.equity), key="drawdown")
    st.plotly_chart(charts.monthly_returns_heatmap(view.equity), key="monthly")
    if prices is not None:
        st.plotly_chart(charts.price_chart(prices, view.trades), key="price")
    else:
        st.info(price_problem)

with tab_trades:
    if view.trades.empty:
        st.info("This run made no trades.")
    else:
        left, mid, right = st.columns(3)
        sort_by = left.selectbox("Sort by", list(view.trades.columns), index=0)
        descending = mid.toggle("Descending", value=False)
        n_pages = max(1, -(-len(view.trades) // rs.DEFAULT_PAGE_SIZE))
        page = right.number_input("Page", min_value=1, max_value=n_pages, value=1, step=1)
        rows, n_pages = rs.sort_and_page(
            view.trades, sort_by=sort_by, ascending=not descending, page=int(page)
        )
        shown = rs.trades_display(rows)
        config = {
            col: st.column_config.DatetimeColumn(col, format=rs.date_format(shown[col]))
            for col in ("entry_time", "exit_time")
            if col in shown.columns
        }
        config[rs.RETURN_PCT] = st.column_config.NumberColumn(
            rs.RETURN_PCT, format="%.2f%%", help="Trade return in percent, as on the cards"
        )
        st.dataframe(shown, hide_index=True, column_config=config)
        st.caption(f"Page {int(page)} of {n_pages}, {rs.DEFAULT_PAGE_SIZE} trades per page.")
        st.plotly_chart(charts.trades_histogram(view.trades), key="trade_returns")

with tab_spec:
    st.dataframe(rs.provenance_rows(view.spec), hide_index=True)

with tab_files:
    trades, equity, metrics, spec = view.trades, view.equity, view.metrics, view.spec
    st.download_button(
        "Trades CSV", data=lambda: rs.trades_csv(trades), file_name=f"{run_id}-trades.csv",
        mime="text/csv", on_click="ignore",
    )  # fmt: skip
    st.download_button(
        "Equity CSV", data=lambda: rs.equity_csv(equity), file_name=f"{run_id}-equity.csv",
        mime="text/csv", on_click="ignore",
    )  # fmt: skip
    st.download_button(
        "Metrics JSON", data=lambda: rs.metrics_json(metrics),
        file_name=f"{run_id}-metrics.json", mime="application/json", on_click="ignore",
    )  # fmt: skip
    st.download_button(
        "HTML report", data=lambda: rs.report_html(view, prices),
        file_name=f"{run_id}-report.html", mime="text/html", on_click="ignore",
    )  # fmt: skip
    st.download_button(
        "spec.json", data=lambda: json.dumps(spec, indent=2, sort_keys=True),
        file_name=f"{run_id}-spec.json", mime="application/json", on_click="ignore",
    )  # fmt: skip
