"""The detectors in use elsewhere, re-implemented so that ours is compared on the same data.

Each has the interface of `SeriesDetector` (`update(point) -> list[Verdict]`) and reports
alerts only. They work, as their originals do, on one number per commit.
- FixedThresholdDetector: a commit is an alert when it differs from the previous measured
  commit by more than a fixed percentage (the TorchBench and HUD rule).
- LookbackZScoreDetector: a commit is an alert when it lies more than z standard
  deviations from the mean of the previous N commits (Conbench's lookback z-score).
- SlidingTTestDetector: Welch's t between the `back` commits before a candidate and the
  `fore` commits from it, alert at a local peak above a threshold (Perfherder's rule, which
  must wait for `fore` commits after a change).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from .model import IMPROVEMENT, REGRESSION, Point, Verdict


def _commit_mean(point: Point) -> float:
    return float(np.mean(np.asarray(point.samples, dtype=float)))


def _alert(commit: str, old: float, new: float, lower_is_better: bool, last_good: str | None) -> Verdict:
    change = new / old - 1.0
    worse = change > 0 if lower_is_better else change < 0
    return Verdict(commit, REGRESSION if worse else IMPROVEMENT, change * 100.0, 1.0, last_good)


class FixedThresholdDetector:
    def __init__(self, *, lower_is_better: bool, threshold_pct: float = 5.0):
        if threshold_pct <= 0:
            raise ValueError(f"threshold_pct={threshold_pct}; must be > 0")
        self.lower_is_better = lower_is_better
        self.threshold = threshold_pct / 100.0
        self._prev: tuple[str, float] | None = None

    def update(self, point: Point) -> list[Verdict]:
        value = float(np.median(np.asarray(point.samples, dtype=float)))
        out: list[Verdict] = []
        if self._prev is not None:
            prev_commit, prev = self._prev
            if abs(value / prev - 1.0) > self.threshold:
                out.append(_alert(point.commit, prev, value, self.lower_is_better, prev_commit))
        self._prev = (point.commit, value)
        return out


class LookbackZScoreDetector:
    def __init__(self, *, lower_is_better: bool, lookback: int = 30, z: float = 5.0, min_history: int = 5):
        if lookback < 2 or z <= 0 or min_history < 2:
            raise ValueError(f"need lookback >= 2, z > 0, min_history >= 2; got {lookback}, {z}, {min_history}")
        self.lower_is_better = lower_is_better
        self.z = z
        self.min_history = min_history
        self._values: deque[float] = deque(maxlen=lookback)
        self._last: str | None = None

    def update(self, point: Point) -> list[Verdict]:
        value = _commit_mean(point)
        out: list[Verdict] = []
        if len(self._values) >= self.min_history:
            hist = np.fromiter(self._values, dtype=float)
            mean, sd = float(hist.mean()), float(hist.std(ddof=1))
            if sd > 0 and abs(value - mean) / sd > self.z:
                out.append(_alert(point.commit, mean, value, self.lower_is_better, self._last))
        self._values.append(value)
        self._last = point.commit
        return out


class SlidingTTestDetector:
    def __init__(self, *, lower_is_better: bool, back: int = 12, fore: int = 12, t_threshold: float = 7.0):
        if back < 2 or fore < 2 or t_threshold <= 0:
            raise ValueError(f"need back >= 2, fore >= 2, t_threshold > 0; got {back}, {fore}, {t_threshold}")
        self.lower_is_better = lower_is_better
        self.back, self.fore, self.t_threshold = back, fore, t_threshold
        self._commits: deque[str] = deque(maxlen=back + fore + 2)
        self._values: deque[float] = deque(maxlen=back + fore + 2)
        self._t: deque[float] = deque([0.0, 0.0], maxlen=3)
        self._quiet_until = -1
        self._n = 0

    def update(self, point: Point) -> list[Verdict]:
        self._commits.append(point.commit)
        self._values.append(_commit_mean(point))
        self._n += 1
        if len(self._values) < self.back + self.fore:
            return []
        vals = np.fromiter(self._values, dtype=float)
        before = vals[-(self.back + self.fore) : -self.fore]
        after = vals[-self.fore :]
        self._t.append(_welch_t(before, after))
        out: list[Verdict] = []
        t_prev2, t_prev, t_now = self._t
        # The candidate one step back is a local peak of |t| above the threshold.
        cand = len(vals) - self.fore - 1
        if (
            abs(t_prev) >= self.t_threshold
            and abs(t_prev) >= abs(t_now)
            and abs(t_prev) > abs(t_prev2)
            and self._n > self._quiet_until
        ):
            old = float(np.mean(vals[cand - self.back : cand]))
            new = float(np.mean(vals[cand : cand + self.fore]))
            out.append(_alert(self._commits[cand], old, new, self.lower_is_better, self._commits[cand - 1]))
            self._quiet_until = self._n + self.back
        return out


def _welch_t(a: np.ndarray, b: np.ndarray) -> float:
    va, vb = float(a.var(ddof=1)), float(b.var(ddof=1))
    se = math.sqrt(va / a.size + vb / b.size)
    if se == 0:
        return 0.0
    return (float(b.mean()) - float(a.mean())) / se
