"""The slow lane: a step of about one noise-sigma, which `max_lag` points cannot show, is
confirmed once up to `slow_max_lag` points hold it, at its own commit, early in a series
too, and so is a larger one the fast lane missed by chance, and one on a host whose stays
at two speeds make neighbours alike; a wave, whose reference is not white noise (nor once
folded onto one speed), and a slide, whose level moves within itself and which fits a
straight line about as well as a step, are left alone."""

from __future__ import annotations

import math

import numpy as np
import pytest

import worker.detection.scan as scan_module
from tests.worker.detection.streams import alerts, as_points, host_levels
from worker.detection import DetectorConfig, Point, min_detectable_change
from worker.detection.scan import lag_one_autocorrelation, looks_white, step_over_line

NO_SLOW_LANE = DetectorConfig(slow_max_lag=DetectorConfig().max_lag)


def assert_confirmed_late_at(found: dict[str, int], index: int) -> None:
    """One alert, blaming a commit within two of `index`, confirmed by the slow lane: with
    more than `max_lag` and at most `slow_max_lag` points at the new level."""
    config = DetectorConfig()
    assert len(found) == 1, found
    (commit, raised_at), = found.items()
    assert abs(int(commit[1:]) - index) <= 2
    points_at_the_new_level = raised_at - int(commit[1:]) + 1
    assert config.max_lag < points_at_the_new_level <= config.slow_max_lag


@pytest.mark.parametrize("seed", [0, 4, 5])
def test_a_step_of_about_one_sigma_is_confirmed_late_at_its_commit(series, seed):
    """4.4 % on a series whose commits scatter by about 3.6 %: the fast lane never confirms
    it; the slow lane does, after more than `max_lag` and at most `slow_max_lag` points,
    and blames the commit of the change."""
    config = DetectorConfig()
    pts = series(n=170, cv=0.04, steps=[(120, 0.044)], seed=seed)
    # below what `max_lag` points can show; `slow_max_lag` points show about this much
    fast, slow = min_detectable_change(pts[:120]), min_detectable_change(pts[:120], lag=config.slow_max_lag)
    assert 4.4 < fast and slow == pytest.approx(4.4, rel=0.15)
    assert alerts(pts, NO_SLOW_LANE) == {}
    assert_confirmed_late_at(alerts(pts), 120)


@pytest.mark.parametrize("seed", [0, 2, 7])
def test_a_step_early_in_a_series_needs_no_full_reference_window(monkeypatch, series, seed):
    """4.4 % at commit 32 of a series whose commits scatter by about 2.7 %: 32 reference
    points, fewer than `pre_window`, are enough for the slow lane (it asks for
    `SLOW_LANE_MIN_REFERENCE`); asking for a full window it would find nothing."""
    pts = series(n=72, cv=0.03, steps=[(32, 0.044)], seed=seed)
    assert_confirmed_late_at(alerts(pts), 32)
    monkeypatch.setattr(scan_module, "SLOW_LANE_MIN_REFERENCE", DetectorConfig().pre_window)
    assert alerts(pts) == {}


@pytest.mark.parametrize("seed", [2, 15, 17])
def test_a_step_the_fast_lane_missed_by_chance_is_confirmed_late(series, seed):
    """6 % on a series whose commits scatter by about 2.7 %: about what `max_lag` points can
    show, so the fast lane finds it on some seeds and misses it on others (these). The slow
    lane confirms it at its commit."""
    pts = series(n=150, cv=0.03, steps=[(90, 0.06)], seed=seed)
    assert min_detectable_change(pts[:90]) < 7.0
    assert alerts(pts, NO_SLOW_LANE) == {}
    assert_confirmed_late_at(alerts(pts), 90)


def slide(seed: int, n: int = 200) -> list[Point]:
    """1 % noise; from commit 110 on, the level slides by 2.2 % over 90 commits."""
    rng = np.random.default_rng(seed)
    return [
        Point(f"c{i}", [100.0 * math.exp(0.022 * min(max(i - 110, 0), 90) / 90 + rng.normal(0, 0.01))])
        for i in range(n)
    ]


@pytest.mark.parametrize("seed", [7, 27, 55])
def test_a_slide_does_not_pass_for_a_small_step(monkeypatch, seed):
    """Over thirty points a slow slide looks like a small step, and its reference can look
    white; its level moves between the first and second half of a side, which is what keeps
    the slow lane quiet: without that check (and the widening for correlated levels, which
    the slide's residuals also ask for, and the check that a step fits better than a line)
    it raises an alert on this very series."""
    assert alerts(slide(seed)) == {}
    monkeypatch.setattr(scan_module, "SLOW_LANE_STATIONARY_Z", math.inf)
    monkeypatch.setattr(scan_module, "CORRELATION_MIN_POINTS", math.inf)
    monkeypatch.setattr(scan_module, "SLOW_LANE_LINE_MARGIN", -math.inf)
    assert alerts(slide(seed)) != {}


def wave(seed: int, n: int = 240) -> list[Point]:
    """A 1.5 % wave with a period of 140 commits under 0.6 % noise."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        level = 100.0 * (1.0 + 0.015 * math.sin(2 * math.pi * i / 140)) * (1.0 + rng.normal(0, 0.006))
        out.append(Point(f"c{i}", [level * (1.0 + rng.normal(0, 0.002)) for _ in range(3)]))
    return out


@pytest.mark.parametrize("seed", [1, 3, 4])
def test_a_wave_does_not_pass_for_a_small_step(monkeypatch, seed):
    """Over thirty points a slow wave looks like a small step; its reference is not white
    (neighbours alike), which is what keeps the slow lane quiet: without that check (and
    the widening for correlated levels, which a wave also asks for, and the host model and
    the mode memory, which may take a wave's crests for a second speed, and the check that
    a step fits better than a line) it raises alerts on this very series."""
    assert alerts(wave(seed)) == {}
    monkeypatch.setattr(scan_module, "SLOW_LANE_AUTOCORRELATION_Z", math.inf)
    monkeypatch.setattr(scan_module, "CORRELATION_MIN_POINTS", math.inf)
    monkeypatch.setattr(scan_module, "fit_host_states", lambda *args: None)
    monkeypatch.setattr(scan_module, "_known_mode", lambda *args, **kwargs: False)
    monkeypatch.setattr(scan_module, "SLOW_LANE_LINE_MARGIN", -math.inf)
    assert alerts(wave(seed)) != {}


@pytest.mark.parametrize("seed", [7, 27, 55])
def test_a_slide_fits_a_line_better_than_a_step(monkeypatch, seed):
    """Over the seventy points the slow lane looks at, a slide is a line: with every other
    guard against it switched off, the check that a step fits better than a straight line
    alone keeps these series quiet."""
    for name in ("SLOW_LANE_STATIONARY_Z", "SLOW_LANE_AUTOCORRELATION_Z", "CORRELATION_MIN_POINTS"):
        monkeypatch.setattr(scan_module, name, math.inf)
    monkeypatch.setattr(scan_module, "fit_host_states", lambda *args: None)
    assert alerts(slide(seed)) == {}
    monkeypatch.setattr(scan_module, "SLOW_LANE_LINE_MARGIN", -math.inf)
    assert alerts(slide(seed)) != {}


def test_a_step_fits_better_than_a_line_and_a_ramp_does_not():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.01, 70)
    step = noise + np.where(np.arange(70) >= 40, 0.015, 0.0)
    ramp = noise + np.linspace(0.0, 0.03, 70)
    # A step of 1.5 sigmas, 40 points before it and 30 after: the step gains about 1.5^2 *
    # 40 * 30 / 70 = 39 sigma^2 over a flat level, a line about three quarters of that.
    assert step_over_line(step, 40, 0.01) > scan_module.SLOW_LANE_LINE_MARGIN
    assert step_over_line(ramp, 40, 0.01) < 0.0
    # One spiked run does not make a ramp a step.
    spiked = ramp.copy()
    spiked[45] += 0.3
    assert step_over_line(spiked, 40, 0.01) < scan_module.SLOW_LANE_LINE_MARGIN


def test_lag_one_autocorrelation_tells_white_noise_from_a_walk():
    rng = np.random.default_rng(3)
    white = rng.normal(0.0, 0.01, 80)
    walk = np.cumsum(rng.normal(0.0, 0.01, 80))
    assert abs(lag_one_autocorrelation(white, 0.01)) < 0.3  # its standard error is 0.11
    assert lag_one_autocorrelation(walk, float(np.std(np.diff(walk)))) > 0.5
    # one spiked run is clipped, not allowed to decide
    spiked = white.copy()
    spiked[40:42] += 0.5
    assert abs(lag_one_autocorrelation(spiked, 0.01)) < 0.3
    assert lag_one_autocorrelation(np.full(10, 0.3), 0.01) == 0.0


def test_white_noise_looks_white_as_often_over_25_points_as_over_80():
    """The whiteness check asks as much of a short reference (early in a segment) as of a
    long one: white noise passes it about as often at 25 points as at 80, and a random walk
    passes it at neither."""
    rng = np.random.default_rng(0)

    def share_white(n: int, walk: bool = False) -> float:
        draws = [rng.normal(0.0, 0.01, n) for _ in range(2000)]
        return float(np.mean([looks_white(np.cumsum(d) if walk else d, 0.01) for d in draws]))

    short, long = share_white(25), share_white(80)
    assert short > 0.8 and long > 0.8
    assert abs(short - long) < 0.05
    assert share_white(25, walk=True) < 0.2 and share_white(80, walk=True) < 0.05


def test_a_step_on_a_host_that_stays_at_two_speeds_is_found_by_the_slow_lane(monkeypatch):
    """A host 5 % slower about a third of the time in stays of about seven commits, with 2 %
    of noise within a speed: its reference is not white (neighbours alike while it stays),
    yet folded onto one speed it is, and the host model weighs the stays. An 8 % step is
    found at its commit on more of these hosts than where only white references are
    believed, and the same hosts without a step raise no more alerts."""
    hosts = [
        host_levels(np.random.default_rng(seed), 200, gap=0.05, p_enter=0.06, p_exit=0.15, sd=0.02)
        for seed in range(20)
    ]
    step = np.where(np.arange(200) >= 120, math.log1p(0.08), 0.0)

    def tally() -> tuple[int, int]:
        found = sum("c120" in alerts(as_points(levels + step)) for levels in hosts)
        false_alarms = sum(len(alerts(as_points(levels))) for levels in hosts)
        return found, false_alarms

    found, false_alarms = tally()
    monkeypatch.setattr(scan_module, "_white_within_speeds", lambda *args: False)
    found_white_only, false_alarms_white_only = tally()
    assert found >= found_white_only + 3, (found, found_white_only)
    assert false_alarms <= false_alarms_white_only


def test_a_wave_on_a_host_with_two_speeds_is_no_host_explained_reference():
    """Folded onto one speed, a host's reference is white; a wave on the same host is still a
    wave (and a step after either is the same step)."""
    config = DetectorConfig()
    shift = math.log1p(0.08)
    cand = scan_module.Candidate(lag=20, shift=shift, z=6.0, sigma=0.02, confirmed=True, returns=False)
    step = np.where(np.arange(140) >= 120, shift, 0.0)
    wave = 0.02 * np.sin(2 * math.pi * np.arange(140) / 80)
    hosts = [
        host_levels(np.random.default_rng(seed), 140, gap=0.05, p_enter=0.06, p_exit=0.15, sd=0.01)
        for seed in range(10)
    ]

    def explained(levels: np.ndarray) -> bool:
        reference = levels[120 - 2 * config.pre_window : 120]
        return scan_module._white_within_speeds(levels, [0], reference, cand, config)

    host_stays = sum(explained(h + step) for h in hosts)
    waves = sum(explained(h + wave + step) for h in hosts)
    assert host_stays >= 4 and waves <= 1, (host_stays, waves)


def test_the_slow_lane_settings_are_checked():
    with pytest.raises(ValueError, match="slow_max_lag=8 is below max_lag=12"):
        DetectorConfig(slow_max_lag=8)
    with pytest.raises(ValueError, match="shorter than pre_window \\+ slow_max_lag = 140"):
        DetectorConfig(slow_max_lag=100, window=120)
    with pytest.raises(ValueError, match="slow_local_z=0"):
        DetectorConfig(slow_local_z=0)
