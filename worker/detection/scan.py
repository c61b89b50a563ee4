"""The statistics of one detector step, on an array of per-commit log levels.

Why these choices:
- One value per commit, the log of the median of its samples. The samples of one run share
  the run's noise, so k samples are not k independent pieces of evidence; their median is
  one robust reading of the commit (a single spiked sample cannot move it).
- The noise is measured on the series itself, from the reference window, as the larger of
  the MAD around its median and the MAD of consecutive differences: the first is robust to
  spikes, the second to a slow drift. No fixed percentage.
- A candidate change at each of the last `max_lag` commits: a robust mean of the points
  after it against a robust mean of up to `pre_window` points before it, over the standard
  error of that difference. Only the newest few candidates are tested at each step: a
  sequential test, O(window) per point, not a whole-history segmentation. The change is
  placed where that z-score is highest, and only that place is judged.
- A change is believed from the stream when its z-score is high, at least `min_post`
  points hold the new level (two whole-run spikes in a row are not a step), the newest
  point still holds it, and the new level is not an offset the series has already
  visited: a host that hops to a slower speed now and then leaves that offset in the
  residuals of its past points (the "mode memory"), one-sided, where plain noise and drift
  are two-sided.
- A level that held for less than `transient_max` commits and went back to where it was is
  a transient host state; the detector reports it as such (the earlier change withdrawn)
  rather than as a second change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .model import DetectorConfig

# MAD of N(0, s^2) is 0.6745 s; median of |N(0, 2 s^2)| is 0.6745 * sqrt(2) s.
_MAD_TO_SIGMA = 1.0 / 0.6745
_DIFF_MAD_TO_SIGMA = 1.0 / (0.6745 * math.sqrt(2.0))
# Huber's clipping constant, in noise sigmas: a spiked run moves a robust mean of n points
# by at most HUBER_K * sigma / n.
HUBER_K = 1.5
# Variance of that robust mean relative to a plain mean's on normal data (its asymptotic
# efficiency is about 0.95; taken a little pessimistic because sigma is itself estimated).
LOCATION_VAR_FACTOR = 1.1
# Share of the points after a change that must lie past the midpoint of the step.
STEP_FRACTION = 0.6


@dataclass(frozen=True)
class Candidate:
    """The best-supported change among the newest points.

    lag: points at the new level; the change is at index len(levels) - lag.
    shift: change of the log level (new - old), in the metric's own direction.
    z: |shift| over its standard error.
    sigma: noise of one commit's log level, from the reference window.
    confirmed: the stream alone is enough to call it.
    returns: the new level is the level from before the last confirmed change, which held
        only briefly: that change was a transient state of the host, not a step.
    """

    lag: int
    shift: float
    z: float
    sigma: float
    confirmed: bool
    returns: bool = False


def noise_sigma(levels: np.ndarray, floor: float) -> float:
    """Robust standard deviation of per-commit log levels (see module docstring)."""
    if levels.size < 2:
        return floor
    med = np.median(levels)
    s_mad = _MAD_TO_SIGMA * float(np.median(np.abs(levels - med)))
    s_diff = _DIFF_MAD_TO_SIGMA * float(np.median(np.abs(np.diff(levels))))
    return max(s_mad, s_diff, floor)


def robust_mean(values: np.ndarray, sigma: float) -> float:
    """One-step Huber location: the median, moved by the mean of the clipped residuals.

    Nearly as efficient as the mean on clean data, so fewer points are needed to see a
    change, while one spiked run cannot drag it far.
    """
    med = float(np.median(values))
    if values.size < 3:
        return med
    bound = HUBER_K * sigma
    return med + float(np.mean(np.clip(values - med, -bound, bound)))


def location_var(n: int) -> float:
    """Variance of `robust_mean` of n points, in units of sigma squared."""
    return LOCATION_VAR_FACTOR / n


def residual_memory(levels: np.ndarray, starts: list[int], reference_end: int) -> np.ndarray:
    """Each past point's offset from the level of its segment.

    `starts` are the indices where segments begin (the first is 0); the current segment
    contributes its points before `reference_end` only, so that the points under test do
    not vouch for themselves.
    """
    bounds = list(starts) + [reference_end]
    parts = [levels[a:b] - np.median(levels[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    return np.concatenate(parts) if parts else np.empty(0)


def scan(levels: np.ndarray, config: DetectorConfig, starts: list[int] | None = None) -> Candidate | None:
    """Best candidate change among the last `max_lag` points of `levels`, or None.

    `levels` are log levels of consecutive measured commits, oldest first; `starts` the
    indices where the series' confirmed segments begin, oldest first (the last one opens
    the current segment: no reference reaches before it).
    """
    starts = starts or [0]
    seg = starts[-1]
    cur = levels[seg:]
    n_total = cur.size
    need_pre = config.warmup if len(starts) == 1 and seg == 0 else config.min_pre
    max_lag = min(config.max_lag, n_total - need_pre)
    if max_lag < 1:
        return None
    floor = math.log1p(config.noise_floor_pct / 100.0)
    ref_end = n_total - max_lag
    sigma = noise_sigma(cur[max(0, ref_end - config.pre_window) : ref_end], floor)

    best_z, best = -1.0, (0, 0.0, 0.0)
    for lag in range(1, max_lag + 1):
        split = n_total - lag
        pre = cur[max(0, split - config.pre_window) : split]
        pre_level = robust_mean(pre, sigma)
        shift = robust_mean(cur[split:], sigma) - pre_level
        z = abs(shift) / (sigma * math.sqrt(location_var(lag) + location_var(pre.size)))
        if z > best_z:
            best_z, best = z, (lag, shift, pre_level)
    lag, shift, pre_level = best
    if best_z < config.z_suspect:
        return None
    post = cur[n_total - lag :]
    confirmed = (
        lag >= config.min_post
        and best_z >= config.z_confirm
        and _step_like(post, pre_level + shift / 2.0, shift, config.min_post)
        and not _known_mode(residual_memory(levels, starts, seg + ref_end), shift, sigma, config)
    )
    returns = confirmed and _returns_to_previous(levels, starts, post, sigma, config)
    return Candidate(lag=lag, shift=shift, z=best_z, sigma=sigma, confirmed=confirmed, returns=returns)


def _step_like(post: np.ndarray, mid: float, shift: float, min_post: int) -> bool:
    """The new level starts at the first post point, holds for most, and still holds."""
    beyond = post > mid if shift > 0 else post < mid
    need = max(min_post, math.ceil(STEP_FRACTION * post.size))
    return bool(beyond[0]) and bool(beyond[-1]) and int(beyond.sum()) >= need


def _known_mode(memory: np.ndarray, shift: float, sigma: float, config: DetectorConfig) -> bool:
    """The series has sat at this offset from its level before: a host speed, not a change."""
    band = config.mode_band * sigma
    seen = int(np.count_nonzero(np.abs(memory - shift) <= band))
    # The same band on the other side of the level counts what plain noise puts that far
    # out: noise and drift are two-sided, a second host speed is one-sided.
    mirror = int(np.count_nonzero(np.abs(memory + shift) <= band))
    return seen >= config.mode_min_points and seen > 2 * mirror


def _returns_to_previous(
    levels: np.ndarray, starts: list[int], post: np.ndarray, sigma: float, config: DetectorConfig
) -> bool:
    if len(starts) < 2:
        return False
    prev_start, seg_start = starts[-2], starts[-1]
    if levels.size - seg_start > config.transient_max:
        return False
    previous = levels[max(prev_start, seg_start - config.pre_window) : seg_start]
    return abs(robust_mean(post, sigma) - robust_mean(previous, sigma)) <= config.mode_band * sigma


def min_detectable_shift(sigma: float, config: DetectorConfig) -> float:
    """Smallest log shift the stream confirms within `max_lag` points, given the noise."""
    return config.z_confirm * sigma * math.sqrt(location_var(config.max_lag) + location_var(config.pre_window))
