"""Server check page: does the configured server really serve Qwen3-Embedding-0.6B as published?"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import state
from components.i18n import _, tr
from components.page import PageContext
from components.widgets import download_figure, download_table, literal
from embedlab import figures
from embedlab.figures.servercheck import format_change
from embedlab.messages import N_, Message
from embedlab.servercheck import run_checks
from embedlab.servercheck.reference import MODEL_CONTEXT, REFERENCE_DOCUMENTS, REFERENCE_QUERIES
from embedlab.servercheck.report import CHECKS, CheckResult, Report, identity_rows
from embedlab.servercheck.truncation import PROBE_ANSWERS

ss = st.session_state
LABELS = {"pass": N_("PASS"), "warn": N_("WARN"), "fail": N_("FAIL"), "skip": N_("SKIP")}
COUNT_LABELS = {"pass": N_("passed"), "warn": N_("warnings"), "fail": N_("failed"), "skip": N_("skipped")}
ICONS = {"pass": ":material/check_circle:", "warn": ":material/warning:", "fail": ":material/cancel:",
         "skip": ":material/skip_next:"}
BOXES = {"pass": st.success, "warn": st.warning, "fail": st.error, "skip": st.info}
# Column headers of the tables as shown (the CSV export keeps the report's own English columns).
TABLE_HEADERS = {"status": N_("Status"), "check": N_("Check"), "verdict": N_("Verdict"), "seconds": N_("Time (s)")}
IDENTITY_HEADERS = {"query": N_("Query"), "document": N_("Document"), "measured": N_("This server"),
                    "published": N_("Published"), "difference": N_("Difference"), "correct vLLM": N_("A correct vLLM")}


def render(ctx: PageContext) -> None:
    st.title(_("Server check"))
    st.markdown(_(
        "A server can answer every request and still return wrong vectors: another model behind the "
        "name, wrong pooling, a missing end-of-text token, padding bugs, inputs cut silently, "
        "`dimensions` ignored. These checks send known inputs to the configured server (never through "
        "the cache) and compare what comes back with the published Qwen3-Embedding-0.6B."
    ))
    settings = ctx.settings
    if settings.backend != "server":
        st.info(_("The check tests an embedding **server**. Set a base URL in the sidebar's Settings, e.g. an "
                  "sglang server started with `--is-embedding`."), icon=":material/info:")
        return
    with st.form("check.form"):
        # Titles made in this run's language (a format_func may be called outside the run, e.g. by AppTest).
        titles = {c: _(title) for c, title in CHECKS.items() if c != "server"}
        st.multiselect(_("Checks to run (empty = all)"), list(titles),
                       format_func=titles.__getitem__, key=state.CHECK_ONLY, persist_state="session",
                       placeholder=_("All checks"),
                       help=_("The connection check always runs first. The reranker is checked when "
                              "RERANK_BASE_URL is set."))
        run = st.form_submit_button(_("Run the server check"), type="primary")
    if run:
        _run(ctx)
    report: Report | None = ss[state.CHECK_REPORT]
    if report is not None:
        ctx.model_caption(report.served_model)
        _show(report)


def _run(ctx: PageContext) -> None:
    s = ctx.settings
    bar = st.progress(0.0, text=_("Starting"))

    def progress(done: int, total: int, title: str) -> None:
        text = _("{done} / {total} · {check}").format(done=done, total=total, check=_(title)) if title else _("Done")
        bar.progress(done / max(total, 1), text=text)

    with st.status(_("Checking the server (about 30 s on a CPU)..."), expanded=False) as box:
        report = run_checks(
            s.embedding_base_url, s.embedding_model, s.embedding_api_key,
            rerank_base_url=s.rerank_base_url, rerank_model=s.rerank_model,
            only=ss[state.CHECK_ONLY] or None, progress=progress,
        )
        box.update(label=_("Checked in {seconds} s").format(seconds=f"{report.seconds:.1f}"), state="complete")
    bar.empty()
    ss[state.CHECK_REPORT] = report


def _show(report: Report) -> None:
    st.subheader(_("Results"))
    st.caption(_("{model} at {url} · started {started} · {seconds} s").format(
        model=literal(report.model), url=literal(report.base_url), started=report.started_at,
        seconds=f"{report.seconds:.1f}"))
    identity = report.result("identity")
    if identity is not None and identity.status in ("pass", "fail"):
        # Its verdict starts "This is (not) Qwen3-Embedding-0.6B as published": the page's headline.
        BOXES[identity.status]("**" + literal(tr(identity.shown_verdict)) + "**")
    counts = report.counts
    cols = st.columns(4)
    for col, status in zip(cols, ("pass", "warn", "fail", "skip"), strict=True):
        col.metric(f"{ICONS[status]} {_(COUNT_LABELS[status])}", counts[status])
    shown = pd.DataFrame([{
        _(TABLE_HEADERS["status"]): _(LABELS[r.status]),
        _(TABLE_HEADERS["check"]): _(CHECKS.get(r.id, r.title)),
        _(TABLE_HEADERS["verdict"]): tr(r.shown_verdict),
        _(TABLE_HEADERS["seconds"]): r.seconds,
    } for r in report.results])
    st.dataframe(shown, hide_index=True, key="check.table",
                 column_config={_(TABLE_HEADERS["verdict"]): st.column_config.TextColumn(width="large"),
                                _(TABLE_HEADERS["seconds"]): st.column_config.NumberColumn(format="%.1f")})
    table = pd.DataFrame(report.table_rows()).drop(columns=["id"])  # the CSV: the report's English texts
    table["status"] = table["status"].str.upper()
    c1, c2, c3 = st.columns(3)
    with c1:
        download_table(table, "server-check", key="check.dl_csv", label=_("Download CSV"))
    c2.download_button(_("Download report (Markdown)"), report.to_markdown, file_name="server-check.md",
                       mime="text/markdown", key="check.dl_md", on_click="ignore",
                       help=_("A report to paste into a ticket (in English)."))
    c3.download_button(_("Download report (JSON)"), report.to_json, file_name="server-check.json",
                       mime="application/json", key="check.dl_json", on_click="ignore")
    for result in report.results:
        _detail(result)


def _probe_answer(probe: dict) -> str:
    """How one probe request went, in the session's language."""
    kind = probe.get("kind")
    if kind in PROBE_ANSWERS:
        return tr(Message(PROBE_ANSWERS[kind], {"status": probe.get("status")} if kind == "refused" else {}))
    return str(probe.get("answer", ""))


def _probe_rows(probes: list[dict]) -> pd.DataFrame:
    """The truncation probe's requests as a table: plain numbers, 1 − cos written out (no 1e-16)."""
    return pd.DataFrame([{
        _("Tokens sent"): f"{int(p['tokens']):,}",
        _("Answer"): _probe_answer(p),
        _("1 − cos to the previous length"): format_change(p.get("change")),
        _("Time (s)"): round(float(p.get("seconds") or 0.0), 2),
    } for p in probes])


def _detail(result: CheckResult) -> None:
    with st.expander(f"{_(LABELS[result.status])} · {_(CHECKS.get(result.id, result.title))}",
                     icon=ICONS[result.status], expanded=result.status in ("fail", "warn")):
        # Verdicts can quote the server's own error text: shown escaped.
        BOXES[result.status](literal(tr(result.shown_verdict)))
        action = result.shown_action
        if action is not None and result.status != "pass":
            st.markdown(_("**What to do:** {action}").format(action=literal(tr(action))))
        ev = result.evidence
        if result.id == "identity" and ev.get("measured"):
            fig = figures.identity_heatmaps(ev["measured"], ev["reference"], list(REFERENCE_QUERIES),
                                            list(REFERENCE_DOCUMENTS), gettext=_)
            st.plotly_chart(fig, key="check.identity_chart")
            download_figure(fig, "server-check-identity", key="check.dl_identity", label=_("Download HTML"))
            rows = pd.DataFrame(identity_rows(ev)).rename(columns={k: _(v) for k, v in IDENTITY_HEADERS.items()})
            numbers = [_(IDENTITY_HEADERS[c]) for c in ("measured", "published", "difference", "correct vLLM")]
            st.dataframe(rows, hide_index=True, key="check.identity_rows",
                         column_config={c: st.column_config.NumberColumn(format="%.4f") for c in numbers})
        if result.id == "truncation" and ev.get("probes"):
            # A line where the server stops reading only when it does (not where the time budget ended).
            cut = ev.get("effective_context") if ev.get("outcome") not in ("full", "budget", "error") else None
            fig = figures.truncation_probe(
                [{**p, "answer": _probe_answer(p)} for p in ev["probes"]],
                ev.get("model_context", MODEL_CONTEXT), cut, gettext=_)
            st.plotly_chart(fig, key="check.truncation_chart")
            download_figure(fig, "server-check-truncation", key="check.dl_truncation", label=_("Download HTML"))
            st.dataframe(_probe_rows(ev["probes"]), hide_index=True, key="check.probes")
        if ev:
            st.caption(_("Evidence (JSON, as in the report)"))
            st.json(ev, expanded=False)
