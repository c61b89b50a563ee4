"""Replaying a list of points through a fresh detector, for the tests."""

from __future__ import annotations

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
