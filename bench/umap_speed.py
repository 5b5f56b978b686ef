"""UMAP map speed: the first map in a fresh process after the warm-up, warm maps of 1,000, 20,000 and
100,000 points (above 20,000 fitted on a sample of 10,000, the rest placed), and the map of a stored
collection of 100,000 chunks: cold (vectors read from the store, map, clusters, measures) and warm
(the content version checked, the cached map drawn again, as after a colour change).

Usage: python -m bench.umap_speed [--dim 1024] [--sizes 1000 20000 100000] [--stored 100000]
       [--stored-dim 384] [--cold]
Vectors are seeded synthetic embeddings (unit vectors around 200 directions, bench._common.clustered_unit).
Maps use the page's defaults (2-D, n_neighbors 15, min_dist 0.1, seed 42, automatic epochs).
--cold also measures the warm-up of a process whose numba disk cache is empty (first start ever).
--stored 0 skips the stored collection (writing it takes a minute or two, not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench._common import clustered_unit

TARGETS = {"first 1,000 (fresh process, after warm-up)": 5.0, "1,000 (warm)": 5.0, "20,000 (warm)": 20.0,
           "100,000 (warm)": 60.0, "stored 100,000: cold": 60.0, "stored 100,000: warm": 2.0,
           "stored 100,000: colour change": 1.0}


def child(dim: int) -> None:
    """Runs in a fresh interpreter: import, warm up, then the first real map (printed as JSON)."""
    start = time.perf_counter()
    from embedlab.projection.umap import UmapParams, fit_umap, warm_up

    imported = time.perf_counter() - start
    warm = warm_up()
    data, _ = clustered_unit(1_000, dim, seed=1)
    start = time.perf_counter()
    fit_umap(data, UmapParams())
    first = time.perf_counter() - start
    print(json.dumps({"import": imported, "warm_up": warm, "first": first}))


def fresh_process(dim: int, cache_dir: str | None = None) -> dict:
    env = dict(os.environ)
    if cache_dir:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run(
        [sys.executable, "-m", "bench.umap_speed", "--child", "--dim", str(dim)],
        check=True, capture_output=True, text=True, env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed_fit(n: int, dim: int, seed: int) -> tuple[float, float, int]:
    """(fit seconds, seconds placing 5 queries, points the layout was fitted on or 0 for all)."""
    from embedlab.projection.umap import UmapParams, fit_umap, place_queries

    data, _ = clustered_unit(n, dim, seed=seed)
    start = time.perf_counter()
    proj = fit_umap(data, UmapParams())
    fit = time.perf_counter() - start
    start = time.perf_counter()
    place_queries(proj, data, clustered_unit(5, dim, seed=seed)[0])
    return fit, time.perf_counter() - start, proj.sampled


def stored(n: int, dim: int, results: dict[str, float]) -> None:
    """Cold and warm map of a stored collection of n chunks in embedded Chroma."""
    from embedlab import figures
    from embedlab.projection.large import stored_map
    from embedlab.projection.mapdata import colour_groups
    from embedlab.stores.base import CollectionSpec
    from embedlab.stores.chroma import ChromaStore, open_client

    vectors, members = clustered_unit(n, dim, seed=5)
    with tempfile.TemporaryDirectory() as tmp:
        store = ChromaStore(open_client(path=tmp))
        store.create(CollectionSpec("bench_map", "bench-vectors", dim))
        t = time.perf_counter()
        store.upsert("bench_map", "bench-vectors", [f"c{i}" for i in range(n)],
                     [f"Chunk {i} of document {m}: " + "some words of the chunk " * 8 for i, m in enumerate(members)],
                     [{"source": f"doc{m % 40}.md", "chunk": i} for i, m in enumerate(members)], vectors)
        print(f"\nstored {n:,} chunks of {dim} d in {time.perf_counter() - t:.0f} s (not counted)")
        last = [0.0]

        def progress(message, share: float) -> None:
            if share - last[0] >= 0.1 or share == 1.0:
                print(f"  {time.perf_counter() - start:5.1f} s  {share:4.0%}  {message}", flush=True)
                last[0] = share

        start = time.perf_counter()
        cold = stored_map(store, "bench_map", progress=progress)
        results[f"stored {n:,}: cold"] = time.perf_counter() - start
        print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in cold.seconds.items())
              + f"; map fitted on {cold.projection.sampled:,} points")
        cache = {("bench_map", cold.version): cold}

        def draw(by: str) -> int:
            groups, order, details = colour_groups(cold.clustering.labels, cold.labels, by)
            fig = figures.umap_map(cold.projection.coords, list(cold.texts), groups, "map",
                                   figures.group_colours(order), details=details)
            return len(fig.to_json())

        start = time.perf_counter()
        entry = cache[("bench_map", store.content_version("bench_map"))]
        size = draw("label")
        results[f"stored {n:,}: warm"] = time.perf_counter() - start
        start = time.perf_counter()
        draw("found cluster")
        results[f"stored {n:,}: colour change"] = time.perf_counter() - start
        print(f"  warm: content version + cached map of {len(entry.ids):,} points + figure "
              f"({size / 1e6:.1f} MB of JSON)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dim", type=int, default=1024, help="1024 = Qwen3-Embedding-0.6B, 384 = stand-in")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 20_000, 100_000])
    parser.add_argument("--stored", type=int, default=100_000, help="chunks of the stored collection (0: skip)")
    parser.add_argument("--stored-dim", type=int, default=384)
    parser.add_argument("--cold", action="store_true", help="also time a warm-up with an empty numba cache")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.dim)
        return

    print(f"dimension {args.dim}, synthetic clustered unit vectors, {os.cpu_count()} CPUs")
    if args.cold:
        with tempfile.TemporaryDirectory() as empty:
            cold = fresh_process(args.dim, cache_dir=empty)
        print(f"cold process (empty numba cache): import {cold['import']:.1f} s, warm-up {cold['warm_up']:.1f} s")
    fresh = fresh_process(args.dim)
    print(f"fresh process: import {fresh['import']:.1f} s, warm-up {fresh['warm_up']:.1f} s (numba disk cache)")

    from embedlab.projection.umap import auto_epochs, warm_up

    warm_up()
    results = {"first 1,000 (fresh process, after warm-up)": fresh["first"]}
    for n in args.sizes:
        fit, place, sampled = timed_fit(n, args.dim, seed=n)
        results[f"{n:,} (warm)"] = fit
        how = f"fitted on {sampled:,}, the rest placed" if sampled else f"{auto_epochs(n)} epochs"
        print(f"{n:>7,} points: fit {fit:6.2f} s, placing 5 queries {place * 1000:6.0f} ms ({how})")
    if args.stored:
        stored(args.stored, args.stored_dim, results)
    print()
    for name, seconds in results.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else f"target < {target:.0f} s   {'ok' if seconds < target else 'MISSED'}"
        print(f"{name:45s} {seconds:7.2f} s   {verdict}")


if __name__ == "__main__":
    main()
