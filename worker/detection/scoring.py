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
    commits: int = 0
    updates: int = 0
    seconds: float = 0.0
    series: int = 0
    delays: list[int] = field(default_factory=list)
    found_by_size: dict[float, int] = field(default_factory=lambda: {s: 0 for s in SIZES})
    total_by_size: dict[float, int] = field(default_factory=lambda: {s: 0 for s in SIZES})

    @property
    def matched(self) -> int:
        """Detections matched to a true change: one per true change found (matching is one-to-one)."""
        return sum(self.found_by_size.values())

    @property
    def true_changes(self) -> int:
        return sum(self.total_by_size.values())

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
        r = rates(
            self.detections,
            self.matched,
            self.commits,
            np.array([self.found_by_size[s] for s in SIZES]),
            np.array([self.total_by_size[s] for s in SIZES]),
        )
        return {
            "precision": float(r["precision"]),
            "recall": float(r["recall"]),
            "recall_by_size": {str(s): defined(r[f"recall_{s:g}"]) for s in SIZES},
            "false_alarms_per_1k": float(r["false_alarms_per_1k"]),
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


RATE_NAMES = ("precision", "recall", *(f"recall_{s:g}" for s in SIZES), "false_alarms_per_1k")


def rates(detections, matched, commits, found, total) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """The reported ratios (`RATE_NAMES`) from counts: numbers, or arrays with one entry per
    resample of the series (`found` and `total` then have a last axis over `SIZES`).

    A detector that raised nothing is not imprecise (precision 1), a file without true changes
    is not missed (recall 1), and no commits raise no false alarms; the recall of a size
    without true changes is NaN (undefined).
    """
    detections, matched, commits = (np.asarray(x, dtype=float) for x in (detections, matched, commits))
    found, total = np.asarray(found, dtype=float), np.asarray(total, dtype=float)
    found_all, total_all = found.sum(axis=-1), total.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "precision": np.where(detections > 0, matched / detections, 1.0),
            "recall": np.where(total_all > 0, found_all / total_all, 1.0),
            "false_alarms_per_1k": np.where(commits > 0, 1000.0 * (detections - matched) / commits, 0.0),
        }
        for j, s in enumerate(SIZES):
            out[f"recall_{s:g}"] = np.where(total[..., j] > 0, found[..., j] / total[..., j], np.nan)
    return out


def defined(x: float | np.ndarray) -> float | None:
    """`x` as a float, or None where it is NaN (undefined)."""
    return float(x) if np.isfinite(x) else None


def size_key(magnitude: float) -> float:
    return min(SIZES, key=lambda s: abs(s - magnitude))
