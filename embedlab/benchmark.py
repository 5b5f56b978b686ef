"""Latency and throughput of an embedding server, measured as users hit it.

The benchmark talks to the server directly (never through the embedding cache), sends texts of
known token counts, and reads the server's own usage counts for tokens/s. Every request carries a
unique prefix so that no server-side prefix cache can shortcut it.

Runs are bounded in time: no request starts after the budget is used up, and each request is
bounded by its own timeout, so a run ends within its budget plus one request timeout. What the
budget (or a stop) left out is reported by `cut_rows`.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from embedlab import tokens
from embedlab.backends import openai_client, post_embeddings
from embedlab.config import public_url
from embedlab.messages import N_, Message

# Token budgets of the three input lengths; their names as shown.
INPUT_LENGTHS: dict[str, int] = {"short": 16, "medium": 256, "long": 2048}
LENGTH_LABELS: dict[str, str] = {"short": N_("short"), "medium": N_("medium"), "long": N_("long")}
BATCH_SIZES = (1, 8, 32, 128)
CONCURRENCIES = (1, 2, 4, 8)

_FILLER = (
    "Employees may carry over up to five days of annual leave into the next calendar year. "
    "员工每年享有带薪年假，未休完的假期可顺延至下一年度第一季度。 "
    "Access to production systems requires a ticket approved by the service owner. "
    "渗透测试须经信息安全部书面批准，并在约定时间窗口内进行。 "
)


def make_text(n_tokens: int, salt: str) -> str:
    """A bilingual text of exactly `n_tokens` Qwen tokens (plus the salt), unique per salt."""
    body = _FILLER * (n_tokens // 40 + 2)
    # A short digest keeps the unique prefix to a few tokens even for 16-token inputs.
    prefix = "[" + hashlib.blake2b(salt.encode(), digest_size=4).hexdigest() + "]"
    # Tokens can merge across the join, so adjust the body's budget until the total is exact.
    budget = max(1, n_tokens - tokens.count_tokens(prefix))
    for _ in range(4):
        text = prefix + " " + tokens.truncate(body, budget)
        excess = tokens.count_tokens(text) - n_tokens
        if excess == 0:
            break
        budget = max(1, budget - excess)
    return text


@dataclass(frozen=True)
class Point:
    """One cell of the sweep."""

    length: str
    batch_size: int
    concurrency: int


@dataclass(frozen=True)
class Measurement:
    """Results for one Point: request latencies (ms) and throughput."""

    length: str
    tokens_per_text: int
    batch_size: int
    concurrency: int
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    texts_per_s: float
    tokens_per_s: float
    wall_s: float
    first_error: str = ""
    planned: int = 0  # requests asked for; more than requests + errors when the run was cut short


def sweep_points(lengths: Sequence[str], batch_sizes: Sequence[int], concurrencies: Sequence[int]) -> list[Point]:
    return [Point(*combo) for combo in itertools.product(lengths, batch_sizes, concurrencies)]


def percentile_ms(latencies_s: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of latencies in seconds, as milliseconds; NaN when empty."""
    if not latencies_s:
        return float("nan")
    return float(np.percentile(np.asarray(latencies_s) * 1000, q))


RequestFn = Callable[[list[str]], int]
"""Sends one embeddings request for the texts; returns the server's prompt-token count."""


def openai_request_fn(base_url: str, model: str, api_key: str | None, timeout_s: float) -> RequestFn:
    """A RequestFn over the app's request path (backends.post_embeddings), with no retries (a
    benchmark reports failures); the token count is 0 when the server reports no usage."""
    client = openai_client(base_url, api_key, timeout_s)
    where = public_url(base_url)  # failures are listed on the page

    def send(texts: list[str]) -> int:
        return post_embeddings(client, where, model, texts, timeout_s=timeout_s).prompt_tokens or 0

    return send


def measure_point(
    send: RequestFn,
    point: Point,
    requests: int,
    deadline: float,
    stop: threading.Event,
    run_id: str = "",
) -> Measurement:
    """Send `requests` batches at `point.concurrency` in flight; none starts after `deadline`.

    A request started before the deadline runs to its end or its own timeout, so the point ends
    within the deadline plus one request timeout.
    """
    n_tokens = INPUT_LENGTHS[point.length]
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    token_total = 0
    text_total = 0

    def worker() -> None:
        nonlocal token_total, text_total
        while not stop.is_set() and time.monotonic() < deadline:
            with lock:
                i = next(counter)
            if i >= requests:
                return
            batch = [make_text(n_tokens, f"{run_id}{point.length}-{point.batch_size}-{point.concurrency}-{i}-{j}")
                     for j in range(point.batch_size)]
            if stop.is_set() or time.monotonic() >= deadline:  # making a large batch takes a moment
                return
            start = time.perf_counter()
            try:
                used = send(batch)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                token_total += used
                text_total += len(batch)

    wall_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=point.concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(point.concurrency)]:
            future.result()
    wall = max(time.perf_counter() - wall_start, 1e-9)
    return _measurement(point, requests, latencies, errors, text_total, token_total, wall)


def _measurement(point: Point, planned: int, latencies: list[float], errors: list[str], texts: int, tokens: int,
                 wall: float) -> Measurement:
    """One point's figures from its requests: latency percentiles of the `latencies` (seconds, one per
    successful request) and throughput over `wall` seconds."""
    return Measurement(
        length=point.length,
        tokens_per_text=INPUT_LENGTHS[point.length],
        batch_size=point.batch_size,
        concurrency=point.concurrency,
        requests=len(latencies),
        errors=len(errors),
        p50_ms=percentile_ms(latencies, 50),
        p95_ms=percentile_ms(latencies, 95),
        p99_ms=percentile_ms(latencies, 99),
        texts_per_s=texts / wall,
        tokens_per_s=tokens / wall,
        wall_s=wall,
        first_error=errors[0] if errors else "",
        planned=planned,
    )


def run_sweep(
    send: RequestFn,
    points: Sequence[Point],
    requests_per_point: int,
    time_budget_s: float,
    stop: threading.Event | None = None,
) -> Iterator[Measurement]:
    """Measure each point in turn, yielding as results come, within `time_budget_s` overall.

    The warm-up request counts against the budget. Points not reached before the budget runs out
    (or `stop` is set) are not yielded; the one being measured then ends early (see `cut_rows`).
    The run ends within `time_budget_s` plus one request timeout of `send`.
    """
    stop = stop or threading.Event()
    deadline = time.monotonic() + time_budget_s
    run_id = f"{time.time_ns() % 10**9}-"
    send(["warm-up " + run_id])  # connection set-up and lazy server initialisation stay out of the figures
    for point in points:
        if stop.is_set() or time.monotonic() >= deadline:
            return
        yield measure_point(send, point, requests_per_point, deadline, stop, run_id)


def cut_rows(points: Sequence[Point], measurements: Sequence[Measurement], requests_per_point: int) -> list[dict]:
    """What a run left out: the points never measured, grouped by input length and batch size,
    and the points measured with fewer requests than asked for.

    Returns:
        rows {"length", "batch_size", "concurrencies" (list of int), "sent" (requests answered or
        failed, 0 for points not run), "planned"}: first the points cut short, then those not run.
    """
    measured = {(m.length, m.batch_size, m.concurrency): m for m in measurements}
    rows: list[dict] = []
    not_run: dict[tuple[str, int], list[int]] = {}
    for p in points:
        m = measured.get((p.length, p.batch_size, p.concurrency))
        if m is None:
            not_run.setdefault((p.length, p.batch_size), []).append(p.concurrency)
        elif m.requests + m.errors < requests_per_point:
            rows.append({"length": p.length, "batch_size": p.batch_size, "concurrencies": [p.concurrency],
                         "sent": m.requests + m.errors, "planned": requests_per_point})
    rows += [{"length": length, "batch_size": batch, "concurrencies": conc, "sent": 0, "planned": requests_per_point}
             for (length, batch), conc in not_run.items()]
    return rows


def to_frame(measurements: Sequence[Measurement]) -> pd.DataFrame:
    """Measurements as a table, one row per point (columns are Measurement's fields)."""
    return pd.DataFrame([asdict(m) for m in measurements], columns=list(Measurement.__dataclass_fields__))


@dataclass(frozen=True)
class SweepSummary:
    """The one-line verdict over the measured points that answered.

    Attributes:
        best: the point with the lowest P95 (a row of the frame, as a dict).
        meeting: how many points have P95 <= target (None without a target).
        points: how many points answered at least one request.
        peak_texts_per_s, peak_tokens_per_s: the best throughput over all points.
    """

    best: dict
    meeting: int | None
    points: int
    peak_texts_per_s: float
    peak_tokens_per_s: float

    def parts(self, target_ms: float | None) -> list[Message]:
        """The verdict's clauses (Markdown), to be joined with " · "."""
        b = self.best
        parts = [Message(N_("Best P95: **{ms} ms** (batch {batch}, {concurrency} in flight, {length})"),
                         {"ms": f"{b['p95_ms']:,.1f}", "batch": int(b["batch_size"]),
                          "concurrency": int(b["concurrency"]),
                          "length": Message(LENGTH_LABELS.get(b["length"], b["length"]))})]
        if target_ms and self.meeting is not None:
            parts.append(Message(N_("{meeting} of {points} points meet P95 ≤ {target} ms"),
                                 {"meeting": self.meeting, "points": self.points, "target": f"{target_ms:g}"}))
        parts.append(Message(N_("peak {texts} texts/s, {tokens} tokens/s"),
                             {"texts": f"{self.peak_texts_per_s:,.1f}", "tokens": f"{self.peak_tokens_per_s:,.0f}"}))
        return parts

    def line(self, target_ms: float | None) -> str:
        """Markdown in English: "Best P95: **12.3 ms** (batch 1, 1 in flight, short) · ..."."""
        return " · ".join(str(p) for p in self.parts(target_ms))


def summarise(frame: pd.DataFrame, target_ms: float | None = None) -> SweepSummary | None:
    """Summary of a results frame (`to_frame` columns); None when no point answered a request."""
    ok = frame[frame["requests"] > 0]
    if ok.empty:
        return None
    return SweepSummary(
        best=ok.loc[ok["p95_ms"].idxmin()].to_dict(),
        meeting=int((ok["p95_ms"] <= target_ms).sum()) if target_ms else None,
        points=len(ok),
        peak_texts_per_s=float(ok["texts_per_s"].max()),
        peak_tokens_per_s=float(ok["tokens_per_s"].max()),
    )
