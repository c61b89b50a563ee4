"""Scoring of detections against labelled true changes.

A detection is (location, raised_at): the commit index it blames and the index of the point
whose arrival raised it. It matches a true change when it blames a commit within `tolerance`
commits of the true index; matching is one-to-one (closest pairs first), every unmatched
detection is a false alarm, and the delay of a match is raised_at minus the true index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SIZES = (0.01, 0.02, 0.03, 0.05, 0.1, 0.2)


@dataclass(frozen=True)
class TrueChange:
    index: int
    magnitude: float


@dataclass(frozen=True)
class Detection:
    location: int
    raised_at: int


@dataclass(frozen=True)
class SeriesOutcome:
    """What one series contributed to a `Tally`: enough to recompute every figure but the
    delays and the timing on any resample of the series (see `paired`)."""

    detections: int
    matched: int
    commits: int
    found_by_size: tuple[int, ...]
    total_by_size: tuple[int, ...]


@dataclass
class Tally:
    """Counts accumulated over series; `summary()` turns them into the reported figures."""

    detections: int = 0
    matched: int = 0
    true_changes: int = 0
    commits: int = 0
    updates: int = 0
    seconds: float = 0.0
    series: int = 0
    delays: list[int] = field(default_factory=list)
    found_by_size: dict[float, int] = field(default_factory=lambda: {s: 0 for s in SIZES})
    total_by_size: dict[float, int] = field(default_factory=lambda: {s: 0 for s in SIZES})

    def add_series(
        self,
        truths: list[TrueChange],
        detections: list[Detection],
        *,
        n_commits: int,
        updates: int,
        seconds: float,
        tolerance: int = 2,
    ) -> SeriesOutcome:
        pairs = sorted(
            (abs(d.location - t.index), d.raised_at, di, ti)
            for di, d in enumerate(detections)
            for ti, t in enumerate(truths)
            if abs(d.location - t.index) <= tolerance
        )
        used_d: set[int] = set()
        used_t: set[int] = set()
        found = {s: 0 for s in SIZES}
        total = {s: 0 for s in SIZES}
        for _, _, di, ti in pairs:
            if di in used_d or ti in used_t:
                continue
            used_d.add(di)
            used_t.add(ti)
            self.delays.append(detections[di].raised_at - truths[ti].index)
            found[size_key(truths[ti].magnitude)] += 1
        for t in truths:
            total[size_key(t.magnitude)] += 1
        for s in SIZES:
            self.found_by_size[s] += found[s]
            self.total_by_size[s] += total[s]
        self.detections += len(detections)
        self.matched += len(used_d)
        self.true_changes += len(truths)
        self.commits += n_commits
        self.updates += updates
        self.seconds += seconds
        self.series += 1
        return SeriesOutcome(
            detections=len(detections),
            matched=len(used_d),
            commits=n_commits,
            found_by_size=tuple(found[s] for s in SIZES),
            total_by_size=tuple(total[s] for s in SIZES),
        )

    def summary(self) -> dict:
        false_alarms = self.detections - self.matched
        delays = np.asarray(self.delays, dtype=float)
        return {
            "precision": self.matched / self.detections if self.detections else 1.0,
            "recall": self.matched / self.true_changes if self.true_changes else 1.0,
            "recall_by_size": {
                str(s): (self.found_by_size[s] / self.total_by_size[s] if self.total_by_size[s] else None)
                for s in SIZES
            },
            "false_alarms_per_1k": 1000.0 * false_alarms / self.commits if self.commits else 0.0,
            "delay_median": float(np.median(delays)) if delays.size else None,
            "delay_p90": float(np.percentile(delays, 90)) if delays.size else None,
            "us_per_update": 1e6 * self.seconds / self.updates if self.updates else 0.0,
            "ms_per_series": 1e3 * self.seconds / self.series if self.series else 0.0,
            "detections": self.detections,
            "true_changes": self.true_changes,
            "false_alarms": false_alarms,
            "commits": self.commits,
            "series": self.series,
        }


def size_key(magnitude: float) -> float:
    return min(SIZES, key=lambda s: abs(s - magnitude))
