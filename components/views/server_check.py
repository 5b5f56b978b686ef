"""Server check page: does the configured server really serve Qwen3-Embedding-0.6B as published?"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import state
from components.page import PageContext
from components.widgets import download_figure, download_table, literal
from embedlab import figures
from embedlab.servercheck import run_checks
from embedlab.servercheck.reference import MODEL_CONTEXT, REFERENCE_DOCUMENTS, REFERENCE_QUERIES
from embedlab.servercheck.report import CHECKS, CheckResult, Report, identity_rows

ss = st.session_state
LABELS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}
ICONS = {"pass": ":material/check_circle:", "warn": ":material/warning:", "fail": ":material/cancel:",
         "skip": ":material/skip_next:"}
BOXES = {"pass": st.success, "warn": st.warning, "fail": st.error, "skip": st.info}


def render(ctx: PageContext) -> None:
    st.title("Server check")
    st.markdown(
        "A server can answer every request and still return wrong vectors: another model behind the "
        "name, wrong pooling, a missing end-of-text token, padding bugs, inputs cut silently, "
        "`dimensions` ignored. These checks send known inputs to the configured server (never through "
        "the cache) and compare what comes back with the published Qwen3-Embedding-0.6B."
    )
    settings = ctx.settings
    if settings.backend != "server":
        st.info("The check tests an embedding **server**. Set a base URL in the sidebar's Settings, e.g. an "
                "sglang server started with `--is-embedding`.", icon=":material/info:")
        return
    with st.form("check.form"):
        st.multiselect("Checks to run (empty = all)", [c for c in CHECKS if c != "server"],
                       format_func=CHECKS.get, key=state.CHECK_ONLY, persist_state="session",
                       help="The connection check always runs first. The reranker is checked when "
                            "RERANK_BASE_URL is set.")
        run = st.form_submit_button("Run the server check", type="primary")
    if run:
        _run(ctx)
    report: Report | None = ss[state.CHECK_REPORT]
    if report is not None:
        ctx.model_caption(report.served_model)
        _show(report)


def _run(ctx: PageContext) -> None:
    s = ctx.settings
    bar = st.progress(0.0, text="Starting")

    def progress(done: int, total: int, title: str) -> None:
        bar.progress(done / max(total, 1), text=f"{done} / {total} · {title}" if title else "Done")

    with st.status("Checking the server (about 30 s on a CPU)...", expanded=False) as box:
        report = run_checks(
            s.embedding_base_url, s.embedding_model, s.embedding_api_key,
            rerank_base_url=s.rerank_base_url, rerank_model=s.rerank_model,
            only=ss[state.CHECK_ONLY] or None, progress=progress,
        )
        box.update(label=f"Checked in {report.seconds:.1f} s", state="complete")
    bar.empty()
    ss[state.CHECK_REPORT] = report


def _show(report: Report) -> None:
    st.subheader("Results")
    st.caption(f"{literal(report.model)} at {literal(report.base_url)} · started {report.started_at} · "
               f"{report.seconds:.1f} s")
    identity = report.result("identity")
    if identity is not None and identity.status in ("pass", "fail"):
        # Its verdict starts "This is (not) Qwen3-Embedding-0.6B as published": the page's headline.
        BOXES[identity.status]("**" + literal(identity.verdict) + "**")
    counts = report.counts
    cols = st.columns(4)
    for col, status in zip(cols, ("pass", "warn", "fail", "skip"), strict=True):
        col.metric(f"{ICONS[status]} {LABELS[status].lower()}", counts[status])
    table = pd.DataFrame(report.table_rows()).drop(columns=["id"])
    table["status"] = table["status"].map(LABELS)
    st.dataframe(table, hide_index=True, key="check.table",
                 column_config={"verdict": st.column_config.TextColumn(width="large")})
    c1, c2, c3 = st.columns(3)
    with c1:
        download_table(table, "server-check", key="check.dl_csv")
    c2.download_button("Download report (Markdown)", report.to_markdown, file_name="server-check.md",
                       mime="text/markdown", key="check.dl_md", on_click="ignore",
                       help="A report to paste into a ticket.")
    c3.download_button("Download report (JSON)", report.to_json, file_name="server-check.json",
                       mime="application/json", key="check.dl_json", on_click="ignore")
    for result in report.results:
        _detail(result)


def _detail(result: CheckResult) -> None:
    with st.expander(f"{LABELS[result.status]} · {result.title}", icon=ICONS[result.status],
                     expanded=result.status in ("fail", "warn")):
        # Verdicts can quote the server's own error text: shown escaped.
        BOXES[result.status](literal(result.verdict))
        if result.action and result.status != "pass":
            st.markdown("**What to do:** " + literal(result.action))
        ev = result.evidence
        if result.id == "identity" and ev.get("measured"):
            fig = figures.identity_heatmaps(ev["measured"], ev["reference"], list(REFERENCE_QUERIES),
                                            list(REFERENCE_DOCUMENTS))
            st.plotly_chart(fig, key="check.identity_chart")
            download_figure(fig, "server-check-identity", key="check.dl_identity")
            rows = pd.DataFrame(identity_rows(ev))
            st.dataframe(rows, hide_index=True, key="check.identity_rows",
                         column_config={c: st.column_config.NumberColumn(format="%.4f")
                                        for c in ("measured", "published", "difference", "correct vLLM")})
        if result.id == "truncation" and ev.get("probes"):
            # A line where the server stops reading only when it does (not where the time budget ended).
            cut = ev.get("effective_context") if ev.get("outcome") not in ("full", "budget", "error") else None
            fig = figures.truncation_probe(ev["probes"], ev.get("model_context", MODEL_CONTEXT), cut)
            st.plotly_chart(fig, key="check.truncation_chart")
            download_figure(fig, "server-check-truncation", key="check.dl_truncation")
            st.dataframe(pd.DataFrame(ev["probes"]), hide_index=True, key="check.probes")
        if ev:
            st.json(ev, expanded=False)
