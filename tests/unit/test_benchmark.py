"""The server benchmark against the real stand-in server."""

from __future__ import annotations

import threading
import time

import pytest

from embedlab import benchmark, figures, tokens
from tests.support.fakeserver import hang, ok


@pytest.mark.parametrize("n", [16, 256, 2048])
def test_made_texts_have_the_requested_token_count_and_are_unique(n):
    a, b = benchmark.make_text(n, "a-1"), benchmark.make_text(n, "a-2")
    assert tokens.count_tokens(a) == n and a != b


def test_percentiles():
    assert benchmark.percentile_ms([0.010, 0.020, 0.030], 50) == pytest.approx(20.0)
    assert benchmark.percentile_ms([0.001] * 99 + [1.0], 99) > 1.0
    assert benchmark.percentile_ms([], 50) != benchmark.percentile_ms([], 50)  # NaN


def test_sweep_measures_real_server(embedding_server):
    send = benchmark.openai_request_fn(embedding_server, "m", None, timeout_s=30)
    points = benchmark.sweep_points(["short"], [1, 4], [1, 2])
    results = list(benchmark.run_sweep(send, points, requests_per_point=3, time_budget_s=60))
    assert [(m.batch_size, m.concurrency) for m in results] == [(1, 1), (1, 2), (4, 1), (4, 2)]
    for m in results:
        assert m.requests == 3 and m.errors == 0
        assert 0 < m.p50_ms <= m.p95_ms <= m.p99_ms
        assert m.texts_per_s > 0 and m.tokens_per_s > 0  # from the server's usage counts
    frame = benchmark.to_frame(results)
    assert list(frame.columns)[:4] == ["length", "tokens_per_text", "batch_size", "concurrency"]
    assert len(figures.latency_vs_batch(frame, target_ms=50).data) == 3  # two lines and the target
    assert len(figures.throughput_vs_concurrency(frame).data) == 2


def test_budget_and_stop_bound_the_run():
    calls = []

    def slow(texts):
        calls.append(len(texts))
        time.sleep(0.2)
        return len(texts)

    points = benchmark.sweep_points(["short"], [1, 2, 4, 8], [1])
    start = time.monotonic()
    results = list(benchmark.run_sweep(slow, points, requests_per_point=100, time_budget_s=1.0))
    assert time.monotonic() - start < 2.0 and 1 <= len(results) < len(points)
    stop = threading.Event()
    stop.set()
    assert list(benchmark.run_sweep(slow, points, 2, 60, stop=stop)) == []


def test_failures_are_counted_not_raised():
    def failing(texts):
        raise ConnectionError("refused")

    [m] = list(benchmark.measure_point(failing, benchmark.Point("short", 1, 2), 4, time.monotonic() + 5,
                                       threading.Event()) for _ in [0])
    assert m.requests == 0 and m.errors == 4 and "refused" in m.first_error


def test_summary_picks_the_best_p95_and_counts_points_meeting_the_target():
    import pandas as pd

    frame = pd.DataFrame([
        {"length": "short", "batch_size": 1, "concurrency": 1, "requests": 4, "p95_ms": 40.0, "texts_per_s": 25.0, "tokens_per_s": 400.0},
        {"length": "short", "batch_size": 8, "concurrency": 2, "requests": 4, "p95_ms": 90.0, "texts_per_s": 180.0, "tokens_per_s": 2900.0},
        {"length": "long", "batch_size": 32, "concurrency": 4, "requests": 0, "p95_ms": float("nan"), "texts_per_s": 0.0, "tokens_per_s": 0.0},
    ])
    summary = benchmark.summarise(frame, target_ms=50)
    assert summary.best["batch_size"] == 1 and summary.meeting == 1 and summary.points == 2
    assert summary.line(50) == ("Best P95: **40.0 ms** (batch 1, 1 in flight, short) · 1 of 2 points meet "
                                "P95 ≤ 50 ms · peak 180.0 texts/s, 2,900 tokens/s")
    assert benchmark.summarise(frame, None).meeting is None
    assert benchmark.summarise(frame[frame["requests"] == 0]) is None


def test_a_slow_server_run_ends_within_budget_plus_one_timeout_and_says_what_was_cut(fake_server):
    # Answers the warm-up at once, then hangs past the request timeout: every request in flight
    # when the budget runs out must end by its timeout, and no new one may start.
    fake_server.plan = [ok(), hang(5)]
    budget, timeout = 1.5, 1.0
    send = benchmark.openai_request_fn(fake_server.url, "m", None, timeout_s=timeout)
    points = benchmark.sweep_points(["short", "long"], [1, 8], [1, 2])
    start = time.monotonic()
    results = list(benchmark.run_sweep(send, points, requests_per_point=4, time_budget_s=budget))
    elapsed = time.monotonic() - start
    assert elapsed <= budget + timeout + 0.5
    assert len(results) == 1 and results[0].requests == 0 and 1 <= results[0].errors < 4
    assert "ServerTimeout" in results[0].first_error
    rows = benchmark.cut_rows(points, results, requests_per_point=4)
    # The first point was cut short; the rest never ran, grouped by input length and batch size.
    assert rows[0] == {"length": "short", "batch_size": 1, "concurrencies": [1], "sent": results[0].errors,
                       "planned": 4}
    assert rows[1:] == [
        {"length": "short", "batch_size": 1, "concurrencies": [2], "sent": 0, "planned": 4},
        {"length": "short", "batch_size": 8, "concurrencies": [1, 2], "sent": 0, "planned": 4},
        {"length": "long", "batch_size": 1, "concurrencies": [1, 2], "sent": 0, "planned": 4},
        {"length": "long", "batch_size": 8, "concurrencies": [1, 2], "sent": 0, "planned": 4},
    ]
    assert sum(len(r["concurrencies"]) for r in rows if r["sent"] == 0) == len(points) - len(results)


def test_a_complete_run_has_nothing_cut():
    points = benchmark.sweep_points(["short"], [1, 2], [1])
    results = list(benchmark.run_sweep(lambda texts: len(texts), points, requests_per_point=3, time_budget_s=30))
    assert [m.requests for m in results] == [3, 3] and benchmark.cut_rows(points, results, 3) == []


def _frame():
    import pandas as pd

    return pd.DataFrame([
        {"length": "short", "batch_size": b, "concurrency": c, "p95_ms": p95, "texts_per_s": tps, "tokens_per_s": tps * 16}
        for b, c, p95, tps in [(1, 1, 0.8, 1200.0), (32, 1, 45.0, 5000.0), (128, 1, 2400.0, 9000.0),
                               (1, 4, 1.5, 3000.0), (32, 4, 160.0, 8000.0), (128, 4, 9000.0, 12000.0)]
    ])


def test_latency_axis_is_logarithmic_with_plain_ticks_and_the_labels_are_passed_in():
    zh = {"Latency vs batch size": "延迟与批大小", "short": "短", "{length}, {n} in flight": "{length}，并发 {n}"}
    fig = figures.latency_vs_batch(_frame(), target_ms=50, gettext=lambda s: zh.get(s, s))
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.type == "log"
    assert "log scale" in fig.layout.yaxis.title.text
    ticks = list(fig.layout.yaxis.ticktext)
    # From below the fastest (0.8 ms) to above the slowest (9,000 ms), written out: no "1k" or "500m".
    assert ticks[0] == "0.5" and "1,000" in ticks and "5,000" in ticks and "10,000" in ticks
    assert all(t.replace(",", "").replace(".", "").isdigit() for t in ticks)
    assert fig.layout.title.text == "延迟与批大小" and fig.data[0].name == "短，并发 1"
    # The target is a line in data units (a shape on a log axis would be read as 10 ** 50 ms).
    assert list(fig.data[-1].y) == [50, 50] and not fig.layout.shapes


def test_throughput_ticks_have_no_si_suffix():
    fig = figures.throughput_vs_concurrency(_frame())
    assert fig.layout.yaxis.tickformat == ",~r" and fig.layout.yaxis.exponentformat == "none"
    assert fig.layout.title.text == "Throughput (texts/s) vs requests in flight"
