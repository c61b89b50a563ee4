"""Streaming detector on synthetic series: steps found where they are, noise left alone."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.worker.detection.streams import as_points
from worker.detection import (
    DetectorConfig,
    Point,
    SeriesDetector,
    Verdict,
    evaluate_point,
    point_level,
    min_detectable_change,
    min_detectable_changes,
)
from worker.detection.baselines import FixedThresholdDetector


def run(points, *, lower_is_better=True, config=DetectorConfig()):
    """Alerts (first time each commit is confirmed) with the index that raised them."""
    det = SeriesDetector(lower_is_better=lower_is_better, config=config)
    alerts: dict[str, tuple[Verdict, int]] = {}
    for i, p in enumerate(points):
        for v in det.update(p):
            if v.is_alert and v.commit not in alerts:
                alerts[v.commit] = (v, i)
    return alerts


def index(commit: str) -> int:
    return int(commit[1:])


STEP_CASES = [
    # (k, cv, rel change, lower_is_better, expected state)
    (1, 0.005, 0.03, True, "regression"),
    (3, 0.01, 0.05, True, "regression"),
    (5, 0.01, -0.05, True, "improvement"),
    (3, 0.01, -0.10, False, "regression"),
    (10, 0.02, 0.20, False, "improvement"),
    (1, 0.02, 0.10, True, "regression"),
]


@pytest.mark.parametrize("k,cv,rel,lower_is_better,state", STEP_CASES)
def test_step_change_is_found_within_two_commits(series, k, cv, rel, lower_is_better, state):
    points = series(n=160, k=k, cv=cv, steps=[(100, rel)], seed=7)
    alerts = run(points, lower_is_better=lower_is_better)
    assert len(alerts) == 1, alerts
    (verdict, raised_at), = alerts.values()
    assert abs(index(verdict.commit) - 100) <= 2
    assert verdict.state == state
    assert raised_at - 100 <= DetectorConfig().max_lag
    assert verdict.change_pct == pytest.approx(rel * 100, rel=0.35)
    assert verdict.last_good_commit is not None and index(verdict.last_good_commit) < index(verdict.commit)


@pytest.mark.parametrize("seed", range(6))
def test_no_alarm_on_noise_with_spikes(series, seed):
    points = series(n=300, k=3, cv=0.02, run_spike_p=0.03, sample_spike_p=0.03, seed=seed)
    fixed = FixedThresholdDetector(lower_is_better=True)
    # The spikes are there: a fixed 5 % threshold cries wolf on this very series.
    assert sum(len(fixed.update(p)) for p in points) > 10
    assert run(points) == {}


def test_bimodal_host_raises_few_alarms(series):
    """A host that hops to a 5 % slower speed 20 % of the time. The first visits cannot be
    told from a change, so a few alarms are allowed; the fixed threshold raises hundreds."""
    total, fixed_total, commits = 0, 0, 0
    for seed in range(8):
        points = series(n=300, k=3, cv=0.01, hop_gap=0.05, hop_enter=0.08, hop_exit=0.3, seed=seed)
        total += len(run(points))
        fixed = FixedThresholdDetector(lower_is_better=True)
        fixed_total += sum(len(fixed.update(p)) for p in points)
        commits += len(points)
    assert fixed_total > 100
    assert 1000 * total / commits <= 3.0, total


def test_step_in_a_bimodal_series_is_still_found(series):
    points = series(n=220, k=3, cv=0.01, hop_gap=0.05, steps=[(150, -0.10)], seed=3)
    alerts = run(points)
    assert any(abs(index(c) - 150) <= 2 and v.state == "improvement" for c, (v, _) in alerts.items())


def test_baseline_cancels_host_drift_that_moves_both(series):
    # The host gets 8 % slower at commit 100: samples and baseline both move.
    with_base = series(n=160, k=5, cv=0.01, host_steps=[(100, 0.08)], with_baseline=True, seed=11)
    assert run(with_base) == {}
    without = [Point(p.commit, p.samples) for p in with_base]
    alerts = run(without)
    assert any(abs(index(c) - 100) <= 2 for c in alerts)


def test_baseline_does_not_hide_a_change_of_the_measured_variant(series):
    points = series(n=160, k=5, cv=0.01, steps=[(100, 0.06)], with_baseline=True, seed=12)
    alerts = run(points)
    assert [abs(index(c) - 100) <= 2 for c in alerts] == [True]


def _two_speed_samples(rng: np.random.Generator, slow: int, fast: int, work: float = 1.0) -> list[float]:
    """Samples of one loop on a host that runs it at 1.0 or 1.85 (a busy sibling core)."""
    levels = np.r_[np.full(slow, 1.85), np.full(fast, 1.0)] * work
    return list(rng.permutation(levels * np.exp(rng.normal(0.0, 0.01, levels.size))))


def test_a_host_switching_between_two_speeds_does_not_move_the_ratio_to_the_baseline():
    # 31 samples a side, the slow speed in 16 of the variant's and 15 of the baseline's: each
    # median lands on a different speed, and the ratio of medians says 1.85 for equal work.
    rng = np.random.default_rng(4)
    equal = Point("c1", _two_speed_samples(rng, 16, 15), baseline=_two_speed_samples(rng, 15, 16))
    assert np.median(equal.samples) / np.median(equal.baseline) > 1.7
    assert abs(math.exp(point_level(equal)) - 1.0) < 0.02
    doubled = Point("c2", _two_speed_samples(rng, 15, 16, work=2.0), baseline=_two_speed_samples(rng, 16, 15))
    assert np.median(doubled.samples) / np.median(doubled.baseline) < 1.2
    assert abs(math.exp(point_level(doubled)) - 2.0) < 0.04


def test_a_point_without_baseline_is_levelled_on_the_log_median_and_with_one_on_the_pairwise_ratio():
    rng = np.random.default_rng(5)
    samples = list(1.3 * np.exp(rng.normal(0.0, 0.01, 41)))
    baseline = list(np.exp(rng.normal(0.0, 0.01, 41)))
    assert point_level(Point("c", samples)) == pytest.approx(math.log(float(np.median(samples))))
    assert abs(point_level(Point("c", samples, baseline=baseline)) - math.log(1.3)) < 0.01


def test_stateless_evaluate_point_matches_the_stream(series):
    config = DetectorConfig()
    points = series(n=260, k=3, cv=0.01, steps=[(80, 0.08), (170, -0.06)], run_spike_p=0.02, seed=5)
    det = SeriesDetector(lower_is_better=True, config=config)
    alerts = set()
    for i, p in enumerate(points):
        history = points[max(0, i - config.window + 1) : i]
        stateless = evaluate_point(
            history,
            p,
            lower_is_better=True,
            config=config,
            changes=det.changes,
            open_suspect=det.open_suspect,
        )
        streamed = det.update(p)
        assert stateless == streamed, i
        alerts |= {v.commit for v in streamed if v.is_alert}
    assert [abs(index(c) - s) <= 2 for c, s in zip(sorted(alerts), (80, 170))] == [True, True]
    # Only the changes still inside the window are kept.
    assert det.changes == [c for c in sorted(alerts) if index(c) >= len(points) - config.window]


def test_every_update_returns_a_verdict_for_the_new_point(series):
    det = SeriesDetector(lower_is_better=True)
    for p in series(n=60, steps=[(40, 0.2)], seed=1):
        assert p.commit in {v.commit for v in det.update(p)}


def test_suspect_precedes_confirmation(series):
    points = series(n=140, k=3, cv=0.01, steps=[(100, 0.10)], seed=2)
    det = SeriesDetector(lower_is_better=True)
    states = [v.state for p in points for v in det.update(p) if v.commit == "c0100"]
    assert "suspect" in states
    assert states.index("suspect") < states.index("regression")


@pytest.mark.parametrize("cv", [0.005, 0.01, 0.04])
def test_min_detectable_change_scales_with_noise(series, cv):
    quiet = min_detectable_change(series(n=80, cv=0.005, seed=4))
    this = min_detectable_change(series(n=80, cv=cv, seed=4))
    assert this / quiet == pytest.approx(cv / 0.005, rel=0.4)
    # And the detector does find a step a little above it.
    step = 1.5 * this / 100
    points = series(n=150, cv=cv, steps=[(100, step)], seed=9)
    assert any(abs(index(c) - 100) <= 2 for c in run(points))


def test_min_detectable_change_needs_history(series):
    assert min_detectable_change(series(n=2)) == math.inf
    assert min_detectable_changes(series(n=2), lags=(12, 30)) == (math.inf, math.inf)


def test_min_detectable_changes_follow_their_lags(series):
    """One noise estimate, one figure per lag, in the order asked: more points at the new
    level confirm a smaller step."""
    pts = series(n=90, cv=0.02, seed=3)
    fast, slow = min_detectable_changes(pts, lags=(12, 30))
    assert 0 < slow < fast
    assert min_detectable_changes(pts, lags=(30, 12)) == (slow, fast)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 10},
        {"min_post": 20},
        {"z_suspect": 7.0, "z_confirm": 5.0},
        {"noise_floor_pct": -1.0},
        {"confirm_alpha": 0.7},
        {"mode_band": 0.0},
    ],
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        DetectorConfig(**kwargs)


@pytest.mark.parametrize("samples", [[], [1.0, float("nan")], [0.0], [-3.0]])
def test_point_rejects_bad_samples(samples):
    with pytest.raises(ValueError):
        Point("c", samples)


def _hops(pattern: str) -> list[Point]:
    """40 quiet commits at 100, then `pattern`: `s` a commit at a 6 % slower level, `.` one
    at the old level. The small deterministic ripple gives the series its noise."""
    levels = [1.0] * 40 + [1.06 if c == "s" else 1.0 for c in pattern]
    return [
        Point(f"c{i}", [100.0 * lv * (1.0 + 0.004 * math.sin(1.7 * i + j)) for j in range(3)])
        for i, lv in enumerate(levels)
    ]


def test_a_level_the_series_leaves_again_is_a_host_hop_not_a_change():
    """A first visit to a slower host speed that comes back to the old level in between is
    not a code change, however large, while the same step held throughout is one."""
    assert run(_hops("ss.ssss.ss" + "." * 20)) == {}
    alerts = run(_hops("ssssssssss" + "s" * 20))
    assert [index(c) for c in alerts] == [40]


def _after_outlier_runs(pattern: str) -> list[Point]:
    """80 quiet commits with four whole-run spikes 25-50 % slow, then `pattern`: `x` a
    commit 25 % slower, `.` one at the old level."""
    levels = [1.0] * 80
    for i, spike in ((15, 1.30), (33, 1.25), (52, 1.38), (70, 1.50)):
        levels[i] = spike
    levels += [1.25 if c == "x" else 1.0 for c in pattern]
    return [
        Point(f"c{i}", [100.0 * lv * (1.0 + 0.004 * math.sin(1.7 * i + j)) for j in range(3)])
        for i, lv in enumerate(levels)
    ]


def test_a_step_where_outliers_reached_before_must_hold_longer():
    """A series whose outlier runs have reached as far as a new level, one of them to that
    very level, has shown that a few commits there are not yet a change: a burst of four
    is left alone, a held step is confirmed once it outlasts twice `min_post`, within
    `max_lag`. (Spikes that all landed elsewhere do not delay a step: see
    test_detection_modes.)"""
    config = DetectorConfig()
    assert run(_after_outlier_runs("xxxx" + "." * 20)) == {}
    alerts = run(_after_outlier_runs("x" * 24))
    assert list(alerts) == ["c80"]
    (_, raised_at), = alerts.values()
    assert 2 * config.min_post - 1 <= raised_at - 80 <= config.max_lag


def test_spiked_runs_just_after_a_step_do_not_move_its_place():
    """A latency 10 % better from commit 100 on, whose next two runs spiked 25 % slow (the
    spikes land beyond the old level): the change is blamed on commit 100, where it happened.
    Squared deviations without a cap, or absolute ones, cost the two spikes more on the new
    side than the step's first point on the old side, and blamed commit 103."""
    rng = np.random.default_rng(3)
    levels = rng.normal(0.0, 0.01, 160)
    levels[100:] += math.log(0.9)
    levels[101:103] += math.log(1.25)
    alerts = run(as_points(levels))
    assert [index(c) for c in alerts] == [100]
