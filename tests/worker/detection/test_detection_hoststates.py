"""A host with two speeds as a two-state Markov chain: the model is recovered from a series'
past, a stay is weighed by how long the host's own stays last, and a change of both speeds
is told from the host staying at its other one."""

from __future__ import annotations

import math

import numpy as np
import pytest

import worker.detection.scan as scan_module
from tests.worker.detection.streams import alerts, host_levels
from worker.detection import DetectorConfig, Point
from worker.detection.hoststates import MIN_POINTS, HostStates, change_evidence, fit_host_states

FLOOR = DetectorConfig().noise_floor
Z2 = DetectorConfig().z_confirm ** 2  # the margin the detector asks of the evidence


@pytest.mark.parametrize("seed", range(5))
def test_the_model_of_a_two_speed_host_is_recovered_from_its_past(seed):
    rng = np.random.default_rng(seed)
    levels = host_levels(rng, 150, gap=0.06, p_enter=0.1, p_exit=0.3, sd=0.005)
    host = fit_host_states(levels - np.median(levels), 0.05, FLOOR)
    assert host is not None
    assert host.gap == pytest.approx(math.log1p(0.06), rel=0.1)
    assert host.sigma == pytest.approx(0.005, rel=0.25)
    assert 0.05 <= host.p_enter <= 0.2
    assert 0.15 <= host.p_exit <= 0.6


def test_white_noise_rarely_shows_a_second_speed_and_a_short_memory_never():
    found = sum(
        fit_host_states(np.random.default_rng(seed).normal(0.0, 0.01, 150), 0.05, FLOOR) is not None
        for seed in range(200)
    )
    assert found < 20
    rng = np.random.default_rng(0)
    short = host_levels(rng, MIN_POINTS - 1, gap=0.06, p_enter=0.3, p_exit=0.3, sd=0.005)
    assert fit_host_states(short, 0.05, FLOOR) is None
    # A memory of one long block at each level is a step, not a host that comes and goes.
    block = np.concatenate((rng.normal(0.0, 0.005, 100), rng.normal(0.06, 0.005, 50)))
    assert fit_host_states(block - np.median(block), 0.06, FLOOR) is None


def test_a_stay_is_weighed_by_how_long_the_host_stays():
    rng = np.random.default_rng(1)
    gap = math.log1p(0.06)
    reference = rng.normal(0.0, 0.005, 40)
    stay = gap + rng.normal(0.0, 0.005, 14)
    long_stays = HostStates(gap=gap, sigma=0.005, p_enter=0.05, p_exit=0.1)
    short_visits = HostStates(gap=gap, sigma=0.005, p_enter=0.05, p_exit=0.7)
    # Fourteen commits at the other speed: ordinary where stays last ten commits on average,
    # not where visits last one or two.
    assert change_evidence(long_stays, reference, stay, gap) < Z2
    assert change_evidence(short_visits, reference, stay, gap) > Z2
    # A step to a level the host does not visit is a change on either host.
    step = math.log1p(0.03) + rng.normal(0.0, 0.005, 10)
    assert change_evidence(long_stays, reference, step, math.log1p(0.03)) > 1.5 * Z2
    # A change as large as the gap looks like a stay until the host shows the new level's
    # other speed, a gap beyond: two such visits in ten points are not yet enough, five in
    # twenty are.
    for n, enough in ((10, False), (20, True)):
        moved = gap + np.where(np.arange(n) % 4 == 3, gap, 0.0) + rng.normal(0.0, 0.005, n)
        assert (change_evidence(long_stays, reference, moved, gap) > Z2) == enough


def test_long_stays_of_a_host_raise_far_fewer_false_alarms_and_a_step_is_still_found(monkeypatch, series):
    """A host that goes 4 % slower every ten commits or so and stays about three, with about
    1.3 % of noise per commit: speeds that overlap, where only how long the host stays tells
    it from a change."""
    host = dict(n=300, k=3, cv=0.015, hop_gap=0.04, hop_enter=0.1, hop_exit=0.3)
    seeds = range(60)
    modelled = sum(len(alerts(series(**host, seed=seed))) for seed in seeds)
    found = sum("c0150" in alerts(series(**host, steps=[(150, 0.12)], seed=seed)) for seed in seeds[:20])
    monkeypatch.setattr(scan_module, "fit_host_states", lambda *args: None)
    counted = sum(len(alerts(series(**host, seed=seed))) for seed in seeds)
    assert found >= 18
    # Without the model, the counting checks alone raise some 14 false alarms on these 60
    # series at the default threshold (20 at z 5.5); with it, 4.
    assert counted >= 10 and modelled <= counted / 3, (modelled, counted)


def test_a_noiseless_host_that_hops_on_a_pattern_is_modelled_and_a_step_found():
    """Identical samples at every commit (the noise is the floor) on a host 5 % slower two
    commits in seven: the model fits without dividing by a zero noise, no hop is an alert,
    and a 10 % step is found at its commit."""
    pattern = np.where(np.arange(60) % 7 < 2, math.log1p(0.05), 0.0)
    host = fit_host_states(pattern - np.median(pattern), 0.05, FLOOR)
    assert host is not None and host.sigma == pytest.approx(FLOOR)
    assert host.gap == pytest.approx(math.log1p(0.05), rel=0.05)
    points = []
    for i in range(200):
        value = 100.0 * (1.1 if i >= 120 else 1.0) * (1.05 if i % 7 in (3, 4) else 1.0)
        points.append(Point(f"c{i}", [value] * 3))
    assert list(alerts(points)) == ["c120"]
    assert fit_host_states(np.zeros(50), 0.05, FLOOR) is None
