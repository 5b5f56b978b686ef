"""Benchmark page: latency percentiles and throughput of the server over batch sizes and concurrency."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from components import resources, state
from components.i18n import _, tr
from components.page import PageContext
from components.widgets import download_figure, download_table, error_text, literal
from embedlab import benchmark, figures
from embedlab.messages import N_, LocalizedError
from embedlab.served import with_models

ss = st.session_state
MAX_REQUEST_TIMEOUT_S = 60.0

# The results table as shown: column -> header (msgid) and number format.
COLUMNS: dict[str, tuple[str, str | None]] = {
    "length": (N_("Input"), None),
    "tokens_per_text": (N_("Tokens per text"), "%d"),
    "batch_size": (N_("Batch size (texts per request)"), "%d"),
    "concurrency": (N_("Requests in flight"), "%d"),
    "requests": (N_("Requests answered"), "%d"),
    "errors": (N_("Failed requests"), "%d"),
    "p50_ms": (N_("P50 latency (ms)"), "%.1f"),
    "p95_ms": (N_("P95 latency (ms)"), "%.1f"),
    "p99_ms": (N_("P99 latency (ms)"), "%.1f"),
    "texts_per_s": (N_("Texts per second"), "%.1f"),
    "tokens_per_s": (N_("Tokens per second"), "%.0f"),
    "wall_s": (N_("Time (s)"), "%.1f"),
}


def request_timeout(budget_s: float) -> float:
    """Each request's timeout: a run ends within its budget plus this."""
    return min(MAX_REQUEST_TIMEOUT_S, float(budget_s))


def render(ctx: PageContext) -> None:
    st.title(_("Server benchmark"))
    st.markdown(_(
        "Sends real requests to the configured server (never the cache) with short, medium and long "
        "inputs of known token counts, sweeping batch size and requests in flight. Latency is per "
        "request; throughput counts texts and the server's own token usage per second."
    ))
    if ctx.settings.backend != "server":
        st.info(_(
            "The benchmark measures an embedding **server**. Set a base URL in the sidebar's Settings "
            "(for example an sglang server started with `--is-embedding`)."
        ), icon=":material/info:")
        return
    if _sweep_form():
        _run(ctx)
    _results(ctx)


def _length_label(name: str) -> str:
    return _("{length} ({tokens} tokens)").format(length=_(benchmark.LENGTH_LABELS[name]),
                                                 tokens=f"{benchmark.INPUT_LENGTHS[name]:,}")


def _sweep_form() -> bool:
    """The sweep's settings; True when "Run benchmark" was pressed."""
    with st.form("bench.form"):
        c1, c2, c3 = st.columns(3)
        # Labels made in this run's language (a format_func may be called outside the run, e.g. by AppTest).
        labels = {name: _length_label(name) for name in benchmark.INPUT_LENGTHS}
        c1.multiselect(_("Inputs"), list(labels), key=state.BENCH_LENGTHS, persist_state="session",
                       format_func=labels.__getitem__, placeholder=_("Choose options"))
        c2.multiselect(_("Batch sizes"), benchmark.BATCH_SIZES, key=state.BENCH_BATCHES, persist_state="session",
                       placeholder=_("Choose options"))
        c3.multiselect(_("Requests in flight"), benchmark.CONCURRENCIES, key=state.BENCH_CONCURRENCY,
                       persist_state="session", placeholder=_("Choose options"))
        c4, c5, c6 = st.columns(3)
        c4.number_input(_("Requests per point"), 1, 100, key=state.BENCH_REQUESTS, persist_state="session")
        c5.slider(_("Time budget (s)"), 10, 600, step=10, key=state.BENCH_BUDGET, persist_state="session",
                  help=_("No request starts after the budget is used up; requests under way finish or time out "
                         "(each request's timeout is the budget, at most {max} s), so a run ends within the budget "
                         "plus one request timeout. The page lists what was left out.").format(
                      max=f"{MAX_REQUEST_TIMEOUT_S:.0f}"))
        c6.number_input(_("Target P95 (ms)"), 0.0, 60_000.0, step=10.0, key=state.BENCH_TARGET, persist_state="session",
                        help=_("Drawn as a line on the latency chart, e.g. the tuning guide's 'P95 < 50 ms'."))
        return st.form_submit_button(_("Run benchmark"), type="primary")


def _run(ctx: PageContext) -> None:
    settings, budget = ctx.settings, ss[state.BENCH_BUDGET]
    points = benchmark.sweep_points(sorted(ss[state.BENCH_LENGTHS], key=list(benchmark.INPUT_LENGTHS).index),
                                    sorted(ss[state.BENCH_BATCHES]), sorted(ss[state.BENCH_CONCURRENCY]))
    if not points:
        st.warning(_("Pick at least one input length, batch size and concurrency."))
        return
    result, error = resources.probe_now(settings)
    if error:
        st.error(_("Not starting: the connection test failed. {error}").format(error=literal(error)),
                 icon=":material/power_off:")
        return
    timeout = request_timeout(budget)
    requests = int(ss[state.BENCH_REQUESTS])
    ss[state.BENCH_RESULTS] = []
    ss[state.BENCH_RUN_INFO] = {"points": len(points), "model": settings.embedding_model, "served_model": result.served,
                                "budget_s": budget, "stopped": False, "timeout_s": timeout, "requests": requests,
                                "sweep": [p.__dict__ for p in points]}
    # Clicking Stop reruns the page, which ends this run after the point being measured; the
    # callback (run before that rerun) records why the run is short.
    stop_slot = st.empty()
    stop_slot.button(_("Stop"), key="bench.stop", help=_("Stops after the point being measured."),
                     on_click=state.mark_bench_stopped)
    progress_text = _("{done} / {total} points · {seconds} s")
    bar = st.progress(0.0, text=progress_text.format(done=0, total=len(points), seconds=0))
    live = st.empty()  # the points measured so far, while the run goes on
    send = benchmark.openai_request_fn(settings.embedding_base_url, settings.embedding_model,
                                       settings.embedding_api_key, timeout_s=timeout)
    started = time.monotonic()
    try:
        for done, measured in enumerate(benchmark.run_sweep(send, points, requests, budget), start=1):
            # Kept after every point, so a stop or a page switch loses nothing measured.
            ss[state.BENCH_RESULTS].append(measured.__dict__)
            ss[state.BENCH_RUN_INFO]["elapsed_s"] = time.monotonic() - started
            bar.progress(done / len(points), text=progress_text.format(
                done=done, total=len(points), seconds=f"{time.monotonic() - started:.0f}"))
            live.dataframe(_shown_table(pd.DataFrame(ss[state.BENCH_RESULTS])), hide_index=True)
    except Exception as exc:  # noqa: BLE001 - the warm-up request failed: say why
        detail = error_text(exc) if isinstance(exc, LocalizedError) else f"{type(exc).__name__}: {str(exc)[:300]}"
        st.error(literal(_("The benchmark could not run: {error}").format(error=detail)))
    ss[state.BENCH_RUN_INFO]["elapsed_s"] = time.monotonic() - started
    bar.empty()
    live.empty()
    stop_slot.empty()


def _shown_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The results with headers in words and units, input lengths named in the session's language."""
    shown = frame[[c for c in COLUMNS if c in frame.columns]].copy()
    shown["length"] = shown["length"].map(lambda n: _(benchmark.LENGTH_LABELS.get(n, n)))
    return shown.rename(columns={c: _(header) for c, (header, _fmt) in COLUMNS.items()})


def _column_config() -> dict:
    return {_(header): st.column_config.NumberColumn(format=fmt) for header, fmt in COLUMNS.values() if fmt}


def _cut(frame: pd.DataFrame, info: dict) -> None:
    """Say what the run left out and why: points not run, points cut short."""
    points = [benchmark.Point(**p) for p in info.get("sweep", [])]
    measured = [benchmark.Measurement(**r) for r in frame.to_dict("records")]
    rows = benchmark.cut_rows(points, measured, int(info.get("requests", 0)))
    if not rows:
        return
    not_run = sum(len(r["concurrencies"]) for r in rows if r["sent"] == 0)
    elapsed, budget = info.get("elapsed_s", 0.0), info.get("budget_s", 0)
    if info.get("stopped"):
        st.warning(_("Stopped after {elapsed} s: {not_run} of {total} points were not measured, and the one under "
                     "way when you stopped may have fewer requests than asked for. Left out:").format(
            elapsed=f"{elapsed:.1f}", not_run=not_run, total=info["points"]), icon=":material/stop_circle:")
    else:
        st.warning(_("The time budget of {budget} s was used up (the run took {elapsed} s; it may overrun by one "
                     "request timeout, {timeout} s): {not_run} of {total} points were not measured. Left "
                     "out:").format(budget=budget, elapsed=f"{elapsed:.1f}", timeout=f"{info.get('timeout_s', 0):.0f}",
                                    not_run=not_run, total=info["points"]), icon=":material/timer_off:")
    st.dataframe(pd.DataFrame([{
        _("Input"): _length_label(r["length"]),
        _("Batch size (texts per request)"): r["batch_size"],
        _("Requests in flight"): ", ".join(str(c) for c in r["concurrencies"]),
        _("What ran"): _("not run") if r["sent"] == 0 else _("cut short: {sent} of {planned} requests").format(
            sent=r["sent"], planned=r["planned"]),
    } for r in rows]), hide_index=True, key="bench.cut")


def _results(ctx: PageContext) -> None:
    results, info = ss[state.BENCH_RESULTS], ss[state.BENCH_RUN_INFO]
    if not results:
        return
    frame = pd.DataFrame(results)
    st.subheader(_("Results · {model}").format(model=literal(info.get("model", ""))))
    ctx.model_caption(info.get("served_model"))
    _cut(frame, info)
    failed = frame[frame["errors"] > 0]
    if not failed.empty:
        st.error(_("{n} request(s) failed; first error: {error}").format(
            n=int(failed["errors"].sum()), error=literal(failed.iloc[0]["first_error"])))
    target_ms = ss[state.BENCH_TARGET] or None
    summary = benchmark.summarise(frame, target_ms)
    if summary is not None:
        st.markdown(" · ".join(tr(part) for part in summary.parts(target_ms)))
        answered = frame[frame["requests"] > 0]
        left, right = st.columns(2)
        with left:
            fig_latency = figures.latency_vs_batch(answered, target_ms, gettext=_)
            st.plotly_chart(fig_latency, key="bench.fig_latency")
            download_figure(fig_latency, "latency_vs_batch", key="bench.dl_latency", label=_("Download HTML"))
        with right:
            fig_tput = figures.throughput_vs_concurrency(answered, gettext=_)
            st.plotly_chart(fig_tput, key="bench.fig_tput")
            download_figure(fig_tput, "throughput_vs_concurrency", key="bench.dl_tput", label=_("Download HTML"))
    st.dataframe(_shown_table(frame), hide_index=True, key="bench.table", column_config=_column_config())
    download_table(with_models(frame, info.get("model", ""), info.get("served_model")), "benchmark", key="bench.dl_csv",
                   label=_("Download CSV"))
