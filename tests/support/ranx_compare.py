"""ranx's nDCG@10 and Fisher randomization test, run in a process of its own with numba's JIT off.

ranx compiles its numba kernels on first use: 45 s of CPU on a fresh machine, far more than the few
thousand sign flips of a cross-check take in plain Python. NUMBA_DISABLE_JIT must be set before numba
is imported, and the test process has imported it already (UMAP), hence the separate process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def compare(qrels: dict[str, dict[str, int]], runs: dict[str, dict[str, dict[str, float]]], baseline: str,
            n_permutations: int, seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """(mean nDCG@10 of each run, Fisher p-value of `baseline` against each other run), by ranx."""
    request = {"qrels": qrels, "runs": runs, "baseline": baseline, "n": n_permutations, "seed": seed}
    done = subprocess.run([sys.executable, "-m", "tests.support.ranx_compare"], input=json.dumps(request),
                          capture_output=True, text=True, timeout=120, check=True,
                          env={**os.environ, "NUMBA_DISABLE_JIT": "1"})
    answer = json.loads(done.stdout)
    return answer["ndcg"], answer["p"]


def main() -> None:
    from ranx import Qrels, Run
    from ranx import compare as ranx_compare

    request = json.load(sys.stdin)
    runs = request["runs"]
    report = ranx_compare(Qrels(request["qrels"]), [Run(run, name=name) for name, run in runs.items()],
                          ["ndcg@10"], stat_test="fisher", n_permutations=request["n"], max_p=0.05,
                          random_seed=request["seed"])
    base = request["baseline"]
    json.dump({"ndcg": {name: report.results[name]["ndcg@10"] for name in runs},
               "p": {name: report.comparisons[frozenset({base, name})]["ndcg@10"]["p_value"]
                     for name in runs if name != base}}, sys.stdout)


if __name__ == "__main__":
    main()
