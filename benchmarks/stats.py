"""Summary statistics and the significance test, on raw samples (numpy and scipy only)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["percentile", "coefficient_of_variation", "mann_whitney_p", "run_factors"]


def percentile(samples: Sequence[float], q: float) -> float:
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in [0, 100], got {q}")
    return float(np.percentile(np.asarray(samples, dtype=float), q))


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Sample standard deviation over the mean (0 for fewer than two values)."""
    if len(values) < 2:
        return 0.0
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    if mean == 0:
        return math.inf
    return float(arr.std(ddof=1) / abs(mean))


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Mann-Whitney U p-value, or None when either side has fewer than 3 samples
    (too few for the test to ever reach significance, so no verdict is better than one).

    Rank-based, it assumes no distribution shape: benchmark latencies are skewed and
    multi-modal, which is exactly where a t-test misleads.
    """
    if len(a) < 3 or len(b) < 3:
        return None
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def run_factors(p50s: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    """What moved every benchmark of a run together, and what is left of each benchmark's
    spread once that is taken out.

    ``p50s[b][r]`` is benchmark b's p50 in run r. Each benchmark's log p50s are centred on their
    mean over the runs; a run's factor is the median of those deviations over the benchmarks
    (exp of it minus one: +0.12 means the run was 12 % slower for the typical benchmark).
    Returns the factors, one per run, and per benchmark the coefficient of variation of its
    p50s divided by the run factors. A host that was slower during one whole run (its other
    tenants, its memory system) shows in the factors; a benchmark that does not repeat by
    itself keeps its spread.
    """
    if not p50s or any(len(row) != len(p50s[0]) for row in p50s):
        raise ValueError("run_factors needs every benchmark's p50 in every run")
    logs = np.log(np.asarray(p50s, dtype=float))
    deviations = logs - logs.mean(axis=1, keepdims=True)
    factors = np.median(deviations, axis=0)
    adjusted = np.exp(logs - factors[None, :])
    return ([float(math.expm1(f)) for f in factors],
            [coefficient_of_variation(list(row)) for row in adjusted])
