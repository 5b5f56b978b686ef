"""Measure the embedding server: latency percentiles and throughput over batch sizes and concurrency."""

import time

import pandas as pd
import streamlit as st

from components import page, resources, state, widgets
from embedlab import benchmark, figures

page.setup("Benchmark", "⏱️")
settings = resources.current_settings()

st.title("Server benchmark")
st.markdown(
    "Sends real requests to the configured server (never the cache) with short, medium and long "
    "inputs of known token counts, sweeping batch size and requests in flight. Latency is per "
    "request; throughput counts texts and the server's own token usage per second."
)

if settings.backend != "server":
    st.info(
        "The benchmark measures an embedding **server**. Set a base URL in the sidebar's Settings "
        "(for example an sglang server started with `--is-embedding`).",
        icon=":material/info:",
    )
    st.stop()

with st.form("bench.form"):
    c1, c2, c3 = st.columns(3)
    lengths = c1.multiselect(
        "Inputs", list(benchmark.INPUT_LENGTHS), default=["short", "medium"], key="bench.lengths",
        format_func=lambda name: f"{name} ({benchmark.INPUT_LENGTHS[name]:,} tokens)",
    )
    batch_sizes = c2.multiselect("Batch sizes", benchmark.BATCH_SIZES, default=[1, 8, 32], key="bench.batches")
    concurrencies = c3.multiselect(
        "Requests in flight", benchmark.CONCURRENCIES, default=[1, 2, 4], key="bench.concurrency"
    )
    c4, c5, c6 = st.columns(3)
    requests = c4.number_input("Requests per point", 1, 100, 4, key="bench.requests")
    budget = c5.slider("Time budget (s)", 10, 600, 90, step=10, key="bench.budget",
                       help="The whole run stops when this is used up; later points are skipped.")
    target = c6.number_input("Target P95 (ms)", 0.0, 60_000.0, 50.0, step=10.0, key="bench.target",
                             help="Drawn as a line on the latency chart, e.g. the tuning guide's 'P95 < 50 ms'.")
    start = st.form_submit_button("Run benchmark", type="primary")

if start:
    points = benchmark.sweep_points(sorted(lengths, key=list(benchmark.INPUT_LENGTHS).index),
                                    sorted(batch_sizes), sorted(concurrencies))
    result, error = resources.probe_now(settings)
    if not points:
        st.warning("Pick at least one input length, batch size and concurrency.")
    elif error:
        st.error(f"Not starting: the connection test failed. {error}", icon=":material/power_off:")
    else:
        st.session_state[state.BENCH_RESULTS] = []
        st.session_state[state.BENCH_RUN_INFO] = {"points": len(points), "model": result.model_id,
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
            for done, measured in enumerate(benchmark.run_sweep(send, points, int(requests), budget), start=1):
                # Kept after every point, so a stop or a page switch loses nothing measured.
                st.session_state[state.BENCH_RESULTS].append(measured.__dict__)
                bar.progress(done / len(points),
                             text=f"{done} / {len(points)} points · {time.monotonic() - started:.0f} s")
                live.dataframe(pd.DataFrame(st.session_state[state.BENCH_RESULTS]).drop(columns=["first_error"]),
                               hide_index=True)
        except Exception as exc:  # noqa: BLE001 - the warm-up request failed: say why
            st.error(f"The benchmark could not run: {type(exc).__name__}: {str(exc)[:300]}")
        bar.empty()
        live.empty()
        stop_slot.empty()

results = st.session_state[state.BENCH_RESULTS]
info = st.session_state[state.BENCH_RUN_INFO]
if results:
    frame = pd.DataFrame(results)
    measured = len(frame)
    st.subheader(f"Results · {info.get('model', '')}")
    if measured < info.get("points", measured):
        why = "stopped" if info.get("stopped") else "the time budget was used up"
        st.warning(f"{measured} of {info['points']} points measured: {why}.")
    failed = frame[frame["errors"] > 0]
    if not failed.empty:
        st.error(f"{int(failed['errors'].sum())} request(s) failed; first error: {failed.iloc[0]['first_error']}")
    ok = frame[frame["requests"] > 0]
    if not ok.empty:
        target_ms = st.session_state.get("bench.target") or None
        best = ok.loc[ok["p95_ms"].idxmin()]
        line = f"Best P95: **{best['p95_ms']:.1f} ms** (batch {best['batch_size']}, {best['concurrency']} in flight, {best['length']})"
        if target_ms:
            meeting = ok[ok["p95_ms"] <= target_ms]
            line += f" · {len(meeting)} of {len(ok)} points meet P95 ≤ {target_ms:g} ms"
        st.markdown(line + f" · peak {ok['texts_per_s'].max():,.1f} texts/s, {ok['tokens_per_s'].max():,.0f} tokens/s")
        left, right = st.columns(2)
        with left:
            fig_latency = figures.latency_vs_batch(ok, target_ms)
            st.plotly_chart(fig_latency, key="bench.fig_latency")
            widgets.download_figure(fig_latency, "latency_vs_batch", key="bench.dl_latency")
        with right:
            fig_tput = figures.throughput_vs_concurrency(ok)
            st.plotly_chart(fig_tput, key="bench.fig_tput")
            widgets.download_figure(fig_tput, "throughput_vs_concurrency", key="bench.dl_tput")
    st.dataframe(frame.drop(columns=["first_error"]), hide_index=True, key="bench.table")
    widgets.download_table(frame, "benchmark", key="bench.dl_csv")
