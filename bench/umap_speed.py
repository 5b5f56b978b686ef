"""UMAP map speed: first map in a fresh process after the warm-up, warm maps of 5,000 and 20,000 points.

Usage: python -m bench.umap_speed [--dim 1024] [--cold]
Vectors are random unit vectors (no topic structure: the slow case for the layout). Maps use the
page's defaults (2-D, n_neighbors 15, min_dist 0.1, seed 42, automatic epochs).
--cold also measures the warm-up of a process whose numba disk cache is empty (first start ever).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

TARGETS = {"first 1,000 (fresh process, after warm-up)": 5.0, "5,000 (warm)": 5.0, "20,000 (warm)": 20.0}


def random_unit(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def child(dim: int) -> None:
    """Runs in a fresh interpreter: import, warm up, then the first real map (printed as JSON)."""
    start = time.perf_counter()
    from embedlab.projection.umap import UmapParams, fit_umap, warm_up

    imported = time.perf_counter() - start
    warm = warm_up()
    data = random_unit(1_000, dim, seed=1)
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


def timed_fit(n: int, dim: int, seed: int) -> tuple[float, float]:
    from embedlab.projection.umap import UmapParams, fit_umap, place_queries

    data = random_unit(n, dim, seed)
    start = time.perf_counter()
    proj = fit_umap(data, UmapParams())
    fit = time.perf_counter() - start
    start = time.perf_counter()
    place_queries(proj, data, random_unit(5, dim, seed + 100))
    return fit, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dim", type=int, default=1024, help="1024 = Qwen3-Embedding-0.6B, 384 = stand-in")
    parser.add_argument("--cold", action="store_true", help="also time a warm-up with an empty numba cache")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.dim)
        return

    print(f"dimension {args.dim}, random unit vectors, {os.cpu_count()} CPUs")
    if args.cold:
        with tempfile.TemporaryDirectory() as empty:
            cold = fresh_process(args.dim, cache_dir=empty)
        print(f"cold process (empty numba cache): import {cold['import']:.1f} s, warm-up {cold['warm_up']:.1f} s")
    fresh = fresh_process(args.dim)
    print(f"fresh process: import {fresh['import']:.1f} s, warm-up {fresh['warm_up']:.1f} s (numba disk cache)")

    from embedlab.projection.umap import auto_epochs, warm_up

    warm_up()
    results = {"first 1,000 (fresh process, after warm-up)": fresh["first"]}
    for n in (5_000, 20_000):
        fit, place = timed_fit(n, args.dim, seed=n)
        results[f"{n:,} (warm)"] = fit
        print(f"{n:>6,} points: fit {fit:6.2f} s, placing 5 queries {place * 1000:6.0f} ms "
              f"({auto_epochs(n)} epochs)")
    print()
    for name, seconds in results.items():
        target = TARGETS[name]
        print(f"{name:45s} {seconds:7.2f} s   target < {target:.0f} s   {'ok' if seconds < target else 'MISSED'}")


if __name__ == "__main__":
    main()
