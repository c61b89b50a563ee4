"""Comparing two results of one benchmark: their ratio and the significance of the change.

Pure (numpy/scipy only). The commit and compare pages call it on raw samples, so the answer does
not depend on change detection having run on these two commits. The ratio is the one
``benchmarks compare`` reports and change detection takes between a variant and its
baseline, the median of the ratios of every pair of samples
(`benchmarks.stats.pairwise_ratio`: a host switching between two speeds moves a
ratio of medians by up to twice); samples that are not all positive fall back to the ratio
of medians.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from benchmarks.stats import pairwise_ratio

SIGNIFICANCE_ALPHA = 0.01


@dataclass(frozen=True)
class Comparison:
    ratio: float  # head over base (see the module docstring)
    change_pct: float  # (ratio - 1) * 100, in the metric's own direction
    p_value: float | None  # two-sided Mann-Whitney U; None when either side has < 2 samples
    significant: bool

    @property
    def significance(self) -> str:
        if self.p_value is None:
            return "too few samples"
        return "significant" if self.significant else "not significant"


def compare_samples(base: Sequence[float], head: Sequence[float], alpha: float = SIGNIFICANCE_ALPHA) -> Comparison:
    if not base or not head:
        raise ValueError("both sides need at least one sample")
    base_median = float(np.median(base))
    if base_median <= 0 or not math.isfinite(base_median):
        raise ValueError(f"base median must be a positive number, got {base_median}")
    ratio = pairwise_ratio(head, base)
    p_value: float | None = None
    if len(base) >= 2 and len(head) >= 2:
        if np.ptp(np.concatenate([base, head])) == 0:
            p_value = 1.0
        else:
            p_value = float(stats.mannwhitneyu(head, base, alternative="two-sided").pvalue)
    return Comparison(
        ratio=ratio,
        change_pct=(ratio - 1.0) * 100.0,
        p_value=p_value,
        significant=p_value is not None and p_value < alpha,
    )
