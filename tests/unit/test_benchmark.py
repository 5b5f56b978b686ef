"""The server benchmark against the real stand-in server."""

from __future__ import annotations

import threading
import time

import pytest

from embedlab import benchmark, figures, tokens


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
    assert len(figures.latency_vs_batch(frame, target_ms=50).data) == 2
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
