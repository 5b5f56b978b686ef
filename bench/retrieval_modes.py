"""Query latency of each retrieval mode on 10,000 chunks: dense (exact cosine), BM25, hybrid RRF
and weighted fusion (embedlab.retrieval.mode_lists), plus int8 and binary scoring of the same vectors.

Usage: python -m bench.retrieval_modes [--n 10000] [--queries 200] [--dim 1024] [--base-url URL --model M]

The chunks are generated text, half English and half Chinese with shared topic words. Vectors: with
--base-url, the chunks and queries are embedded by that server; otherwise seeded random unit vectors
of --dim dimensions (latency depends on the sizes only, not on the vectors' meaning). Prints p50/p95
per query in milliseconds; the BM25 index build time is printed once (it is cached per content).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from embedlab import quantize
from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.keyword import BM25Index
from embedlab.retrieval import ChunkIndex, mode_lists

TOPICS_EN = ["annual leave", "VPN access", "refund request", "API pagination", "expense claims",
             "password reset", "penetration test approval", "backup restore drill", "parcel delay", "invoice"]
TOPICS_ZH = ["年假", "VPN 账号", "退款申请", "接口分页", "报销", "重置密码", "渗透测试审批", "备份恢复演练",
             "包裹延误", "发票"]


def make_texts(n: int) -> list[str]:
    out = []
    for i in range(n):
        t = i % len(TOPICS_EN)
        if i % 2:
            out.append(f"第{i}条：关于{TOPICS_ZH[t]}的规定，适用于第{i // 20}部门，编号{i * 7919 % 10007}。")
        else:
            out.append(f"Section {i}: rules about {TOPICS_EN[t]} for team {i // 20}, reference {i * 7919 % 10007}.")
    return out


def unit(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def pct(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    return f"p50 {statistics.median(ms):7.2f} ms · p95 {ms[int(0.95 * (len(ms) - 1))]:7.2f} ms"


def _mode_latency(index: ChunkIndex, qvecs: np.ndarray, questions: list[str]) -> None:
    """Per-query latency of the dense, BM25 and hybrid lists (top 10)."""
    parts: dict[str, list[float]] = {"dense": [], "bm25": [], "fusion": []}
    totals: dict[str, list[float]] = {"dense": [], "bm25": [], "hybrid RRF": [], "hybrid weighted": []}
    for method, name in (("rrf", "hybrid RRF"), ("weighted", "hybrid weighted")):
        for q, text in zip(qvecs, questions, strict=True):
            out = mode_lists(index, q, text, 10, method=method)
            for key in parts:
                parts[key].append(out.timings_ms[key] / 1000)
            totals[name].append(sum(out.timings_ms.values()) / 1000)
    totals["dense"], totals["bm25"] = parts["dense"], parts["bm25"]
    print("per query, top 10 (hybrid = dense + bm25 + fusion of the top 100 of each):")
    for name, times in totals.items():
        print(f"  {name:<16} {pct(times)}")
    print(f"  {'(fusion alone)':<16} {pct(parts['fusion'])}")


def _precision_latency(vectors: np.ndarray, qvecs: np.ndarray, dim: int) -> None:
    """Per-query scoring time over all chunks at each precision, with its storage size."""
    print("vector scoring per query over all chunks (the dense step at each precision):")
    scale = quantize.int8_scales(vectors)
    docs_i8 = quantize.quantize_int8(vectors, scale)
    docs_bin = quantize.quantize_binary(vectors)
    for name, fn in (
        ("float32", lambda q: vectors @ q),
        ("int8", lambda q: quantize.int8_scores(quantize.quantize_int8(q[None, :], scale), docs_i8)),
        ("binary", lambda q: quantize.binary_scores(quantize.quantize_binary(q[None, :]), docs_bin, dim)),
        ("binary+rescore", lambda q: quantize.rescore(
            quantize.binary_scores(quantize.quantize_binary(q[None, :]), docs_bin, dim), q[None, :], vectors)),
    ):
        times = []
        for q in qvecs:
            t0 = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - t0)
        precision = name.split("+")[0]
        size = quantize.store_bytes(dim, precision) / 1e9
        print(f"  {name:<16} {pct(times)} · {quantize.bytes_per_vector(dim, precision):,} B/vector · "
              f"1M vectors {size:.3f} GB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--base-url")
    parser.add_argument("--model", default="multilingual-e5-small-q4")
    args = parser.parse_args()

    texts = make_texts(args.n)
    questions = [f"rules about {TOPICS_EN[i % 10]}" if i % 2 else f"{TOPICS_ZH[i % 10]}的规定是什么"
                 for i in range(args.queries)]
    if args.base_url:
        embedder = OpenAICompatibleEmbedder(args.base_url, args.model, batch_size=256)
        vectors, qvecs = embedder.embed(texts), embedder.embed(questions)
        source = f"embedded by {args.model} at {args.base_url}"
    else:
        vectors, qvecs = unit(args.n, args.dim, 0), unit(args.queries, args.dim, 1)
        source = "seeded random unit vectors"
    dim = vectors.shape[1]
    print(f"{args.n:,} chunks, {args.queries} queries, {dim} dimensions ({source})")

    start = time.perf_counter()
    BM25Index(texts)
    print(f"BM25 index build (jieba + bm25s, once per collection content): {time.perf_counter() - start:.2f} s")
    records = [{"id": f"c{i}", "text": t, "metadata": {}, "embedding": v} for i, (t, v) in enumerate(zip(texts, vectors, strict=True))]
    index = ChunkIndex.from_records(records)

    _mode_latency(index, qvecs, questions)
    _precision_latency(vectors, qvecs, dim)


if __name__ == "__main__":
    main()
