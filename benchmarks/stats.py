"""Summary statistics and the significance test, on raw samples (numpy and scipy only)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["percentile", "coefficient_of_variation", "mann_whitney_p", "hodges_lehmann_log_ratio",
           "pairwise_ratio", "run_factors"]


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


# Most sample pairs `hodges_lehmann_log_ratio` compares. Change detection levels every point
# of its window on each update, and a suite that times each iteration for a few seconds
# records thousands of samples: 3,000 a side, thinned to 2,000 (4 million pairs), took 65 ms a
# point. Past the cap both sides are thinned to 256 evenly spaced order statistics (2 ms
# there), which moved the estimate by less than 0.001 % on runs of 300 to 3,000 samples at
# two host speeds.
_MAX_RATIO_PAIRS = 256 * 256


def hodges_lehmann_log_ratio(samples: Sequence[float], reference: Sequence[float]) -> float:
    """Log of how much larger ``samples`` are than ``reference``: the Hodges-Lehmann
    estimate, the median of the log ratios of every pair (the shift that goes with the
    Mann-Whitney test).

    Why not the ratio of the two medians: a shared host often runs at two speeds, switching
    within milliseconds (a busy sibling core), so each side's samples are a mixture of a fast
    and a slow mode. Where the slow share is near one half, each median lands on either mode,
    and the ratio of medians of two equal loops was seen at 1.56. The median of all pairwise
    ratios counts each pairing of modes by its share and stays on 1 for equal work: over 40
    processes on such a host, the log ratio of equal loops had a spread of 7.7 % and a worst
    case of 31 % as a ratio of medians, against 1.4 % and 4 % this way. Like the median, it is
    not moved by a few spiked samples.
    """
    a = np.asarray(samples, dtype=float)
    b = np.asarray(reference, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("a ratio needs samples on both sides")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and a.min() > 0 and b.min() > 0):
        raise ValueError("a ratio needs finite positive samples")
    a, b = np.log(a), np.log(b)
    if a.size * b.size > _MAX_RATIO_PAIRS:
        keep = int(math.sqrt(_MAX_RATIO_PAIRS))
        a = np.quantile(a, np.linspace(0.0, 1.0, min(a.size, keep)))
        b = np.quantile(b, np.linspace(0.0, 1.0, min(b.size, keep)))
    return float(np.median(np.subtract.outer(a, b)))


def pairwise_ratio(samples: Sequence[float], reference: Sequence[float]) -> float | None:
    """How many times larger ``samples`` are than ``reference``: the Hodges-Lehmann ratio, or,
    where a sample is zero or less (no log ratio), the ratio of the medians; None when the
    reference's median is zero."""
    try:
        return math.exp(hodges_lehmann_log_ratio(samples, reference))
    except ValueError:
        median_ref = float(np.median(reference))
        return float(np.median(samples)) / median_ref if median_ref != 0 else None


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
