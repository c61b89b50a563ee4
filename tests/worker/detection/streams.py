"""Replaying a list of points through a fresh detector, and a host with two speeds, for the
tests."""

from __future__ import annotations

import math

import numpy as np

from worker.detection import DetectorConfig, Point, SeriesDetector


def alerts(pts: list[Point], config: DetectorConfig = DetectorConfig()) -> dict[str, int]:
    """Confirmed commits and the index of the point that confirmed each."""
    det = SeriesDetector(lower_is_better=True, config=config)
    out: dict[str, int] = {}
    for i, p in enumerate(pts):
        for v in det.update(p):
            if v.is_alert and v.commit not in out:
                out[v.commit] = i
    return out


def as_points(levels: np.ndarray) -> list[Point]:
    """One commit per log level, one sample each."""
    return [Point(f"c{i}", [100.0 * math.exp(level)]) for i, level in enumerate(levels)]


def host_levels(
    rng: np.random.Generator, n: int, *, gap: float, p_enter: float, p_exit: float, sd: float
) -> np.ndarray:
    """Log levels of a host that goes to a speed `gap` slower with chance `p_enter` per
    commit and comes back with chance `p_exit`, with `sd` of noise within a speed."""
    slow = np.zeros(n, dtype=bool)
    state = False
    for i in range(n):
        state = rng.random() >= p_exit if state else rng.random() < p_enter
        slow[i] = state
    return rng.normal(0.0, sd, n) + np.where(slow, math.log1p(gap), 0.0)
