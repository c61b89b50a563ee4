"""A host that hops between two speeds, seen in a series' reference window and folded onto one.

Why: on such a host the spread of the per-commit levels is mostly the gap between its two
speeds, not the noise within either. Measured around one robust level, a 1-3 % step hides
in a 4-8 % gap; measured against the speed each point ran at, it stands many within-speed
sigmas out. So when the reference window shows two clearly separated levels that take
turns (the host comes and goes, unlike a drift, which leaves two levels one after the
other), every point of the segment nearer the upper speed is moved down by the gap onto the lower one, and the step
test runs again on those levels with the within-speed noise.

The fold keeps a change that is smaller than half the gap (each point still lands nearest
to its own speed) and garbles a larger one, which the plain test on the unfolded levels
already sees; the detector uses the folded test only where the plain one does not confirm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Two speeds at least this many within-speed sigmas apart: plain noise around one level does
# not split into two clusters that far apart (checked on the labelled dev file: at 4 sigmas,
# folds of noisy unimodal windows added false alarms).
SEPARATION_SIGMAS = 6.0
# The less visited speed holds at least this share of the reference window, and at least
# three points: a few whole-run spikes are outliers, not a speed.
MIN_SHARE = 0.1
MIN_POINTS = 3
# Largest share of the window within a sixth of the gap from its midpoint: a host with two
# speeds leaves the middle between them nearly empty (at six sigmas apart, plain noise puts
# about 2 % of the points there).
MIDDLE_SHARE = 0.05
# Separate visits to the less visited speed within the window: a host that hops comes and
# goes; a drift or a change inside the window gives one block of each level.
MIN_VISITS = 3

_MAD_TO_SIGMA = 1.0 / 0.6745


@dataclass(frozen=True)
class TwoSpeeds:
    """The lower level (onto which points are folded), the upper level's offset from it and
    the noise within a speed (all in log units)."""

    lower: float
    offset: float
    sigma: float

    def fold(self, levels: np.ndarray) -> np.ndarray:
        """Each point nearer to the other speed moved onto the lower one."""
        other = np.abs(levels - (self.lower + self.offset)) < np.abs(levels - self.lower)
        return np.where(other, levels - self.offset, levels)


def two_speeds(reference: np.ndarray, floor: float) -> TwoSpeeds | None:
    """The two speeds of `reference` (per-commit log levels, oldest first), or None when it
    does not show two clearly separated levels that take turns.

    The split is the one of least within-cluster sum of squares over the sorted levels (a
    two-means fit in one dimension, exact and O(n log n)); the noise within the speeds is
    the MAD of each point around its own cluster's median.
    """
    n = reference.size
    least = max(MIN_POINTS, math.ceil(MIN_SHARE * n))
    if n < 2 * least:
        return None
    x = np.sort(reference)
    k = np.arange(least, n - least + 1)  # size of the lower cluster
    csum, csq = np.cumsum(x), np.cumsum(x * x)
    low_sum, low_sq = csum[k - 1], csq[k - 1]
    high_sum, high_sq = csum[-1] - low_sum, csq[-1] - low_sq
    within = (low_sq - low_sum**2 / k) + (high_sq - high_sum**2 / (n - k))
    split = int(k[int(np.argmin(within))])
    low, high = x[:split], x[split:]
    c_low, c_high = _sorted_median(low), _sorted_median(high)
    gap = c_high - c_low
    if gap < SEPARATION_SIGMAS * floor:
        return None
    deviations = np.abs(np.concatenate((low - c_low, high - c_high)))
    middle = (deviations.size - 1) // 2, deviations.size // 2
    part = np.partition(deviations, middle)
    sigma = max(_MAD_TO_SIGMA * 0.5 * float(part[middle[0]] + part[middle[1]]), floor)
    if gap < SEPARATION_SIGMAS * sigma:
        return None
    # Two speeds leave the middle between them empty; a ripple whose values crowd towards
    # its two extremes (a wave) also splits into two tight clusters, but fills the middle.
    if np.count_nonzero(np.abs(x - 0.5 * (c_low + c_high)) < gap / 6.0) > MIDDLE_SHARE * n:
        return None
    # Folded onto the lower level whichever speed the window visits more: a host near half
    # and half would otherwise swap its usual speed between windows, and the folded levels
    # would jump by the gap.
    speeds = TwoSpeeds(lower=c_low, offset=c_high - c_low, sigma=sigma)
    # The speed with fewer points is the host's other speed, below or above the usual one
    # (spikes on the slow side must not make the usual speed count as visits to a second).
    at_upper = np.abs(reference - c_high) < np.abs(reference - c_low)
    at_other = at_upper if 2 * np.count_nonzero(at_upper) <= n else ~at_upper
    if np.count_nonzero(at_other) < least:
        return None
    visits = int(np.count_nonzero(np.diff(np.concatenate(([0], at_other.astype(np.int8)))) == 1))
    return speeds if visits >= MIN_VISITS else None


def speed_levels(reference: np.ndarray, offset: float) -> tuple[float, float]:
    """The lower and upper speed levels of `reference` (per-commit log levels), on a host
    whose two speeds lie `offset` apart (as `two_speeds` found them, maybe on other points).

    The reference may sit mostly at either speed: each point is folded onto the lower
    speed under both readings (its median at the lower speed, or at the upper one), and
    the reading whose folded points lie closer together wins.
    """
    centre = float(np.median(reference))
    readings = []
    for lower in (centre, centre - offset):
        folded = TwoSpeeds(lower=lower, offset=offset, sigma=0.0).fold(reference)
        level = float(np.median(folded))
        readings.append((float(np.abs(folded - level).sum()), level))
    level = min(readings, key=lambda reading: reading[0])[1]
    return level, level + offset


def fold_onto_lower_speed(reference: np.ndarray, offset: float) -> np.ndarray:
    """`reference` with each point nearer the upper of its two speeds (`speed_levels`, `offset`
    apart) moved onto the lower one."""
    lower, _ = speed_levels(reference, offset)
    return TwoSpeeds(lower=lower, offset=offset, sigma=0.0).fold(reference)


def _sorted_median(values: np.ndarray) -> float:
    """Median of an already sorted 1-D array."""
    n = values.size
    return 0.5 * (float(values[(n - 1) // 2]) + float(values[n // 2]))
