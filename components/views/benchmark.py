"""Benchmark page: latency percentiles and throughput of the server over batch sizes and concurrency."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from components import resources, state
from components.i18n import _
from components.page import PageContext
from components.widgets import download_figure, download_table, error_text, literal
from embedlab import benchmark, figures
from embedlab.messages import LocalizedError
from embedlab.served import with_models

ss = st.session_state


def render(ctx: PageContext) -> None:
    st.title("Server benchmark")
    st.markdown(
        "Sends real requests to the configured server (never the cache) with short, medium and long "
        "inputs of known token counts, sweeping batch size and requests in flight. Latency is per "
        "request; throughput counts texts and the server's own token usage per second."
    )
    if ctx.settings.backend != "server":
        st.info(
            "The benchmark measures an embedding **server**. Set a base URL in the sidebar's Settings "
            "(for example an sglang server started with `--is-embedding`).",
            icon=":material/info:",
        )
        return
    if _sweep_form():
        _run(ctx)
    _results(ctx)


def _sweep_form() -> bool:
    """The sweep's settings; True when "Run benchmark" was pressed."""
    with st.form("bench.form"):
        c1, c2, c3 = st.columns(3)
        c1.multiselect("Inputs", list(benchmark.INPUT_LENGTHS), key=state.BENCH_LENGTHS, persist_state="session",
                       format_func=lambda name: f"{name} ({benchmark.INPUT_LENGTHS[name]:,} tokens)")
        c2.multiselect("Batch sizes", benchmark.BATCH_SIZES, key=state.BENCH_BATCHES, persist_state="session")
        c3.multiselect("Requests in flight", benchmark.CONCURRENCIES, key=state.BENCH_CONCURRENCY, persist_state="session")
        c4, c5, c6 = st.columns(3)
        c4.number_input("Requests per point", 1, 100, key=state.BENCH_REQUESTS, persist_state="session")
        c5.slider("Time budget (s)", 10, 600, step=10, key=state.BENCH_BUDGET, persist_state="session",
                  help="The whole run stops when this is used up; later points are skipped.")
        c6.number_input("Target P95 (ms)", 0.0, 60_000.0, step=10.0, key=state.BENCH_TARGET, persist_state="session",
                        help="Drawn as a line on the latency chart, e.g. the tuning guide's 'P95 < 50 ms'.")
        return st.form_submit_button("Run benchmark", type="primary")


def _run(ctx: PageContext) -> None:
    settings, budget = ctx.settings, ss[state.BENCH_BUDGET]
    points = benchmark.sweep_points(sorted(ss[state.BENCH_LENGTHS], key=list(benchmark.INPUT_LENGTHS).index),
                                    sorted(ss[state.BENCH_BATCHES]), sorted(ss[state.BENCH_CONCURRENCY]))
    if not points:
        st.warning("Pick at least one input length, batch size and concurrency.")
        return
    result, error = resources.probe_now(settings)
    if error:
        st.error(f"Not starting: the connection test failed. {literal(error)}", icon=":material/power_off:")
        return
    ss[state.BENCH_RESULTS] = []
    ss[state.BENCH_RUN_INFO] = {"points": len(points), "model": settings.embedding_model, "served_model": result.served,
                                "budget_s": budget, "stopped": False}
    # Clicking Stop reruns the page, which ends this run after the point being measured; the
    # callback (run before that rerun) records why the run is short.
    stop_slot = st.empty()
    stop_slot.button("Stop", key="bench.stop", help="Stops after the point being measured.",
                     on_click=state.mark_bench_stopped)
    bar = st.progress(0.0, text=f"0 / {len(points)} points")
    live = st.empty()  # the points measured so far, while the run goes on
    send = benchmark.openai_request_fn(settings.embedding_base_url, settings.embedding_model,
                                       settings.embedding_api_key, timeout_s=min(60.0, budget))
    started = time.monotonic()
    try:
        for done, measured in enumerate(benchmark.run_sweep(send, points, int(ss[state.BENCH_REQUESTS]), budget),
                                        start=1):
            # Kept after every point, so a stop or a page switch loses nothing measured.
            ss[state.BENCH_RESULTS].append(measured.__dict__)
            bar.progress(done / len(points), text=f"{done} / {len(points)} points · {time.monotonic() - started:.0f} s")
            live.dataframe(pd.DataFrame(ss[state.BENCH_RESULTS]).drop(columns=["first_error"]), hide_index=True)
    except Exception as exc:  # noqa: BLE001 - the warm-up request failed: say why
        detail = error_text(exc) if isinstance(exc, LocalizedError) else f"{type(exc).__name__}: {str(exc)[:300]}"
        st.error(literal(_("The benchmark could not run: {error}").format(error=detail)))
    bar.empty()
    live.empty()
    stop_slot.empty()


def _results(ctx: PageContext) -> None:
    results, info = ss[state.BENCH_RESULTS], ss[state.BENCH_RUN_INFO]
    if not results:
        return
    frame = pd.DataFrame(results)
    st.subheader(f"Results · {literal(info.get('model', ''))}")
    ctx.model_caption(info.get("served_model"))
    if len(frame) < info.get("points", len(frame)):
        why = "stopped" if info.get("stopped") else "the time budget was used up"
        st.warning(f"{len(frame)} of {info['points']} points measured: {why}.")
    failed = frame[frame["errors"] > 0]
    if not failed.empty:
        st.error(f"{int(failed['errors'].sum())} request(s) failed; first error: {literal(failed.iloc[0]['first_error'])}")
    target_ms = ss[state.BENCH_TARGET] or None
    summary = benchmark.summarise(frame, target_ms)
    if summary is not None:
        st.markdown(summary.line(target_ms))
        answered = frame[frame["requests"] > 0]
        left, right = st.columns(2)
        with left:
            fig_latency = figures.latency_vs_batch(answered, target_ms)
            st.plotly_chart(fig_latency, key="bench.fig_latency")
            download_figure(fig_latency, "latency_vs_batch", key="bench.dl_latency")
        with right:
            fig_tput = figures.throughput_vs_concurrency(answered)
            st.plotly_chart(fig_tput, key="bench.fig_tput")
            download_figure(fig_tput, "throughput_vs_concurrency", key="bench.dl_tput")
    st.dataframe(frame.drop(columns=["first_error"]), hide_index=True, key="bench.table")
    download_table(with_models(frame, info.get("model", ""), info.get("served_model")), "benchmark", key="bench.dl_csv")
