"""Levels that move together (a host that stays a while at its other speed, a drift, a wave)
carry less evidence than as many independent ones: the step tests widen their standard
error by the long-run factor of the series' lag-one autocorrelation, and white noise is
left as it is."""

from __future__ import annotations

import math

import numpy as np
import pytest

import worker.detection.scan as scan_module
from tests.worker.detection.streams import alerts
from worker.detection import Point, min_detectable_change
from worker.detection.scan import correlated_noise_inflation


def ar1_levels(rng: np.random.Generator, n: int, rho: float, sd: float) -> np.ndarray:
    e = np.empty(n)
    e[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        e[i] = rho * e[i - 1] + rng.normal(0.0, sd * math.sqrt(1.0 - rho * rho))
    return e


def ar1_series(seed: int, step: tuple[int, float] | None = None, n: int = 300) -> list[Point]:
    """Per-commit levels of 1 % noise with a lag-one autocorrelation of 0.7 (three samples
    each, 0.1 % apart), and optionally a true step (first index, relative change)."""
    rng = np.random.default_rng(seed)
    levels = ar1_levels(rng, n, 0.7, 0.01)
    if step is not None:
        levels[step[0] :] += math.log1p(step[1])
    return [
        Point(f"c{i}", [100.0 * math.exp(lv + rng.normal(0.0, 0.001)) for _ in range(3)])
        for i, lv in enumerate(levels)
    ]


def test_white_noise_is_not_widened_and_correlated_noise_is():
    rng = np.random.default_rng(0)
    white = [correlated_noise_inflation(rng.normal(0.0, 0.01, 150), 0.01) for _ in range(400)]
    assert np.mean(np.equal(white, 1.0)) >= 0.8
    assert np.percentile(white, 95) < 1.2
    # AR(1) at 0.6: the long-run factor is sqrt(1.6 / 0.4) = 2, a little less after the
    # estimate is taken one standard error down.
    correlated = [correlated_noise_inflation(ar1_levels(rng, 150, 0.6, 0.01), 0.01) for _ in range(200)]
    assert 1.5 <= float(np.median(correlated)) <= 2.0
    # Too few points to say: no widening.
    assert correlated_noise_inflation(ar1_levels(rng, 15, 0.9, 0.01), 0.01) == 1.0


def test_correlated_noise_raises_far_fewer_false_alarms_and_a_clear_step_is_still_found(monkeypatch):
    # The host model also takes some of these alarms (it may read an AR(1) series' long
    # excursions as a second speed): switched off, the widening is seen alone.
    monkeypatch.setattr(scan_module, "fit_host_states", lambda *args: None)
    seeds = range(20)
    widened = sum(len(alerts(ar1_series(seed))) for seed in seeds)
    for seed in seeds:
        assert "c150" in alerts(ar1_series(seed, step=(150, 0.10))), seed
    monkeypatch.setattr(scan_module, "CORRELATION_MIN_POINTS", math.inf)
    plain = sum(len(alerts(ar1_series(seed))) for seed in seeds)
    assert plain >= 20 and widened <= plain / 4, (widened, plain)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_smallest_detectable_change_says_so(monkeypatch, seed):
    pts = ar1_series(seed)
    widened = min_detectable_change(pts)
    monkeypatch.setattr(scan_module, "CORRELATION_MIN_POINTS", math.inf)
    assert widened > 1.5 * min_detectable_change(pts)
