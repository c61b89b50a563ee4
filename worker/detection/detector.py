"""Streaming change detection for one series: `SeriesDetector` and its stateless twin
`evaluate_point`.

The state of a series is small and explicit: the log levels of its last `config.window`
points, which of those commits are confirmed changes (segment starts), and the commit of its
open suspect, if any. The stateless function rebuilds exactly that state from what the
worker has in its database (the last points, the series' alerts, its open suspect), so
both give the same verdicts. Nothing older than the window is read: an update costs
O(window) however long the series is.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from typing import Sequence

import numpy as np

from benchmarks.stats import hodges_lehmann_log_ratio as baseline_log_ratio

from .model import IMPROVEMENT, NO_CHANGE, REGRESSION, SUSPECT, DetectorConfig, Point, Verdict
from .scan import (
    Candidate,
    correlated_noise_inflation,
    fold_two_speeds,
    min_detectable_shift,
    reference_sigma,
    residual_memory,
    scan,
)


def point_level(point: Point) -> float:
    """Log level of one commit: log median of its samples, or, when it has a baseline, the log
    ratio to it (`baseline_log_ratio`).

    The ratio to the baseline measured in the same job cancels what moved both (a host that
    got slower, a thermal state); the log makes changes relative and symmetric.
    """
    if point.baseline is not None:
        return baseline_log_ratio(point.samples, point.baseline)
    return math.log(statistics.median(point.samples))


def _state_for(shift: float, lower_is_better: bool) -> str:
    worse = shift > 0 if lower_is_better else shift < 0
    return REGRESSION if worse else IMPROVEMENT


class SeriesDetector:
    """Feed the points of one series in commit order; `update` returns the verdicts.

    The list holds the verdict for the new point and, when it changed, the verdict for the
    open suspect (raised, confirmed, moved or withdrawn) or for a confirmed change withdrawn
    as a transient. A confirmed change starts a new segment: later points are compared with
    the new level only, and the old segments keep teaching the mode memory.
    """

    def __init__(self, *, lower_is_better: bool, config: DetectorConfig = DetectorConfig()):
        self.lower_is_better = lower_is_better
        self.config = config
        self._commits: deque[str] = deque(maxlen=config.window)
        self._levels: deque[float] = deque(maxlen=config.window)
        self._suspect: str | None = None
        # Commits where confirmed segments begin, oldest first, those still in the window.
        self._changes: list[str] = []

    @classmethod
    def from_history(
        cls,
        history: Sequence[Point],
        *,
        lower_is_better: bool,
        config: DetectorConfig = DetectorConfig(),
        changes: Sequence[str] = (),
        open_suspect: str | None = None,
    ) -> "SeriesDetector":
        """Rebuild the state of a series without re-running the test on each past point."""
        det = cls(lower_is_better=lower_is_better, config=config)
        for point in history[max(0, len(history) - config.window + 1) :]:
            det._commits.append(point.commit)
            det._levels.append(point_level(point))
        known = set(changes)
        det._changes = [c for c in det._commits if c in known]
        if open_suspect is not None and open_suspect in det._commits:
            det._suspect = open_suspect
        return det

    @property
    def open_suspect(self) -> str | None:
        return self._suspect

    @property
    def changes(self) -> list[str]:
        """Commits of the confirmed changes still inside the window, oldest first."""
        return list(self._changes)

    def update(self, point: Point) -> list[Verdict]:
        if len(self._commits) == self.config.window and self._changes and self._changes[0] == self._commits[0]:
            self._changes.pop(0)
        self._commits.append(point.commit)
        self._levels.append(point_level(point))
        levels = np.fromiter(self._levels, dtype=float, count=len(self._levels))
        cand = scan(levels, self.config, self._segment_starts())
        verdicts: list[Verdict] = []
        reported: str | None = None
        if cand is None:
            if self._suspect is not None:
                verdicts.append(self._quiet(self._suspect))
                self._suspect = None
        elif cand.returns:
            # The level went back to where it was before the last change: that change was
            # a transient host state. Withdraw it and let its points teach the mode memory.
            withdrawn = self._changes.pop()
            verdicts.append(self._quiet(withdrawn))
            if self._suspect is not None and self._suspect != withdrawn:
                verdicts.append(self._quiet(self._suspect))
            self._suspect = None
            reported = withdrawn
        else:
            commit, verdict = self._verdict(cand)
            if self._suspect is not None and self._suspect != commit:
                verdicts.append(self._quiet(self._suspect))
            verdicts.append(verdict)
            reported = commit
            if cand.confirmed:
                self._changes.append(commit)
                self._suspect = None
            else:
                self._suspect = commit
        if reported != point.commit:
            verdicts.append(self._quiet(point.commit))
        return verdicts

    def _verdict(self, cand: Candidate) -> tuple[str, Verdict]:
        idx = len(self._commits) - cand.lag
        commit = self._commits[idx]
        state = _state_for(cand.shift, self.lower_is_better) if cand.confirmed else SUSPECT
        verdict = Verdict(
            commit=commit,
            state=state,
            change_pct=math.expm1(cand.shift) * 100.0,
            confidence=min(1.0, cand.z / self.config.z_confirm),
            last_good_commit=self._commits[idx - 1] if idx > 0 else None,
        )
        return commit, verdict

    @staticmethod
    def _quiet(commit: str) -> Verdict:
        return Verdict(commit, NO_CHANGE, 0.0, 0.0, None)

    def _segment_starts(self) -> list[int]:
        if not self._changes:
            return [0]
        # Changes are few and recent ones are at the end: search from the right.
        commits = list(self._commits)
        index = {c: i for i, c in enumerate(commits)}
        return [0] + [index[c] for c in self._changes if index[c] > 0]


def evaluate_point(
    history: Sequence[Point],
    new: Point,
    *,
    lower_is_better: bool,
    config: DetectorConfig = DetectorConfig(),
    changes: Sequence[str] = (),
    open_suspect: str | None = None,
) -> list[Verdict]:
    """Verdicts after `new` joins a series whose previous points are `history` (oldest first).

    Stateless: pass the last `config.window - 1` points (older ones are ignored), the commits
    of the series' confirmed changes (`changes`; those outside the window are ignored), so
    that no reference level straddles one, and its open suspect, if any. Same logic and same verdicts as `SeriesDetector`;
    costs O(window).
    """
    det = SeriesDetector.from_history(
        history,
        lower_is_better=lower_is_better,
        config=config,
        changes=changes,
        open_suspect=open_suspect,
    )
    return det.update(new)


def min_detectable_change(
    history: Sequence[Point],
    *,
    config: DetectorConfig = DetectorConfig(),
    changes: Sequence[str] = (),
    lag: int | None = None,
) -> float:
    """Smallest step, in percent, that the stream confirms within `lag` points (by default
    `config.max_lag`; `config.slow_max_lag` gives the smaller steps the slow lane confirms
    later, where the series' noise is white) for this series' own noise (its last
    `config.pre_window` points since its last confirmed change, and while those are fewer,
    at least the noise of the segment before it; on a host with two speeds, the noise
    within a speed; widened where neighbouring levels move together). `math.inf` while the
    series has fewer than three points since that change.
    """
    lags = (config.max_lag if lag is None else lag,)
    return min_detectable_changes(history, lags=lags, config=config, changes=changes)[0]


def min_detectable_changes(
    history: Sequence[Point],
    *,
    lags: Sequence[int],
    config: DetectorConfig = DetectorConfig(),
    changes: Sequence[str] = (),
) -> tuple[float, ...]:
    """`min_detectable_change` for each of `lags`, from one estimate of the series' noise."""
    known = set(changes)
    recent = history[max(0, len(history) - config.window) :]
    starts = [0] + [i for i, point in enumerate(recent) if point.commit in known and i > 0]
    if len(recent) - starts[-1] < 3:
        return tuple(math.inf for _ in lags)
    levels = np.array([point_level(p) for p in recent])
    # On a host with two speeds the folded test sees steps against the noise within a speed.
    folded = fold_two_speeds(levels, starts, config)
    tested = levels if folded is None else folded
    sigma = reference_sigma(tested, starts, len(recent), config)
    # Levels that move together carry less evidence each (see `scan.correlated_noise_inflation`).
    sigma *= correlated_noise_inflation(residual_memory(tested, starts, len(recent)), sigma)
    return tuple(math.expm1(min_detectable_shift(sigma, config, lag=lag)) * 100.0 for lag in lags)
