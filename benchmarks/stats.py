"""Summary statistics and the significance test, on raw samples (numpy and scipy only)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["percentile", "coefficient_of_variation", "mann_whitney_p"]


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
