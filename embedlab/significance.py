"""Is configuration B better than A on the same queries? A paired test and a confidence interval.

Both come from scipy.stats on the per-query differences d_i = b_i - a_i:
- p-value: a two-sided paired permutation test of the mean difference (`permutation_test` with
  `permutation_type="samples"`: each query's two scores are swapped or not). With up to 13 queries
  scipy enumerates all 2^n sign patterns (an exact test); with more it draws `resamples` of them.
- 95% interval of the mean difference: a percentile bootstrap over queries (`bootstrap`).
Both are seeded, so the same scores always give the same verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05  # significance level of the verdict
CONFIDENCE = 0.95  # level of the bootstrap interval
RESAMPLES = 9999
SEED = 20240607


@dataclass(frozen=True)
class PairedTest:
    """The comparison of two configurations over the same `n` queries.

    mean_a, mean_b: the mean scores; diff: mean of b - a; ci_low, ci_high: the 95% bootstrap
    interval of `diff` (None with fewer than 2 queries); p_value: two-sided permutation test
    (None with fewer than 2 queries); better / worse / ties: queries where b beats, trails or
    equals a.
    """

    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    better: int
    worse: int
    ties: int

    @property
    def significant(self) -> bool:
        """The difference is significant at ALPHA (a p-value exists and is below it)."""
        return self.p_value is not None and self.p_value < ALPHA


def paired_test(a: Sequence[float], b: Sequence[float], *, tolerance: float = 1e-9,
                resamples: int = RESAMPLES, seed: int = SEED) -> PairedTest:
    """Paired permutation test and bootstrap interval of mean(b - a).

    Args:
        a, b: (n,) per-query scores of two configurations, aligned by query.
    Raises:
        ValueError: a and b differ in length, or are empty.
    """
    from scipy import stats

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired scores need two equal-length lists, got {x.shape} and {y.shape}")
    if x.size == 0:
        raise ValueError("no queries to compare")
    d = y - x
    better, worse = int(np.sum(d > tolerance)), int(np.sum(d < -tolerance))
    base = dict(n=int(x.size), mean_a=float(x.mean()), mean_b=float(y.mean()), diff=float(d.mean()),
                better=better, worse=worse, ties=int(x.size) - better - worse)
    if x.size < 2:
        return PairedTest(ci_low=None, ci_high=None, p_value=None, **base)
    if not np.any(np.abs(d) > tolerance):  # every query scores the same: nothing to permute or resample
        return PairedTest(ci_low=0.0, ci_high=0.0, p_value=1.0, **base)

    def mean_diff(u: np.ndarray, v: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(v - u, axis=axis)

    perm = stats.permutation_test((x, y), mean_diff, permutation_type="samples", vectorized=True,
                                  n_resamples=resamples, alternative="two-sided", rng=np.random.default_rng(seed))
    boot = stats.bootstrap((d,), np.mean, n_resamples=resamples, confidence_level=CONFIDENCE, method="percentile",
                           vectorized=True, rng=np.random.default_rng(seed + 1))
    return PairedTest(ci_low=float(boot.confidence_interval.low), ci_high=float(boot.confidence_interval.high),
                      p_value=float(min(perm.pvalue, 1.0)), **base)
