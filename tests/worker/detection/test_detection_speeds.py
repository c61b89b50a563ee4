"""A host with two speeds: the fold finds them only where they take turns, a step far
smaller than the gap between them is found against the noise within a speed, and a host
that spends half its time at its other speed may stay there a while without an alert."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.worker.detection.streams import alerts, as_points
from worker.detection import DetectorConfig, min_detectable_change
from worker.detection import scan as scan_module
from worker.detection.speeds import speed_levels, two_speeds

FLOOR = math.log1p(0.0005)


def hopping(n: int, gap: float, noise: float, seed: int, enter: float = 0.25, stay: float = 0.3) -> np.ndarray:
    """Log levels of a host that enters its slow speed (`gap` slower) with probability
    `enter` and stays there with probability `stay` per commit."""
    rng = np.random.default_rng(seed)
    slow = np.zeros(n, dtype=bool)
    for i in range(1, n):
        slow[i] = rng.random() < (stay if slow[i - 1] else enter)
    return rng.normal(0.0, noise, n) + np.where(slow, math.log1p(gap), 0.0)


def test_two_speeds_that_take_turns_are_found_with_their_gap_and_inner_noise():
    levels = hopping(40, gap=0.06, noise=0.003, seed=1)
    speeds = two_speeds(levels, FLOOR)
    assert speeds is not None
    assert speeds.offset == pytest.approx(math.log1p(0.06), abs=0.004)
    assert 0.0015 < speeds.sigma < 0.006
    folded = speeds.fold(levels)
    assert np.std(folded) < 0.25 * np.std(levels)


@pytest.mark.parametrize(
    "levels",
    [
        np.random.default_rng(2).normal(0.0, 0.01, 40),  # plain noise
        np.concatenate((np.zeros(20), np.full(20, 0.06))) + np.random.default_rng(3).normal(0, 0.003, 40),  # a step
        np.linspace(0.0, 0.06, 40),  # a drift
        np.where(np.isin(np.arange(40), [5, 17, 30]), 0.3, 0.0) + np.random.default_rng(4).normal(0, 0.003, 40),
        np.where(np.isin(np.arange(40), [5, 17, 30]), -0.3, 0.0) + np.random.default_rng(4).normal(0, 0.003, 40),
    ],
    ids=["noise", "one-block-each", "drift", "three-spikes", "three-dips"],
)
def test_no_two_speeds_where_the_levels_do_not_take_turns(levels):
    assert two_speeds(levels, FLOOR) is None


@pytest.mark.parametrize("share_upper", [0.2, 0.8])
def test_speed_levels_are_found_whichever_speed_the_reference_sits_at_most(share_upper):
    rng = np.random.default_rng(6)
    upper = rng.random(60) < share_upper
    reference = 0.3 + np.where(upper, 0.05, 0.0) + rng.normal(0.0, 0.003, 60)
    lower, high = speed_levels(reference, 0.05)
    assert lower == pytest.approx(0.3, abs=0.002)
    assert high == pytest.approx(0.35, abs=0.002)


def _alerts(levels: np.ndarray) -> list[int]:
    """Indices of the commits the stream confirms as changes."""
    return list(_alerts_raised(levels))


def _alerts_raised(levels: np.ndarray) -> dict[int, int]:
    """Index of each commit the stream confirms as a change -> index of the point that
    confirmed it."""
    return {int(commit[1:]): raised_at for commit, raised_at in alerts(as_points(levels)).items()}


SEEDS = range(8)


def test_a_small_step_on_a_host_with_two_speeds_is_found_against_the_noise_within_a_speed():
    """A 1.2 % slowdown on a host whose two speeds are 5 % apart (noise 0.3 % within a
    speed), eight seeded hosts: folded onto one speed the step is four sigmas, and it is
    found at its commit (and nowhere else) within `max_lag` points on most; measured
    around one level, the gap swamps it on most (the slow lane may see it later)."""
    max_lag = DetectorConfig().max_lag

    def found_at_the_step(levels: np.ndarray) -> bool:
        found = _alerts_raised(levels)
        return bool(found) and all(abs(c - 150) <= 2 and raised - 150 <= max_lag for c, raised in found.items())

    stepped = []
    for seed in SEEDS:
        levels = hopping(200, gap=0.05, noise=0.003, seed=seed)
        levels[150:] += math.log1p(0.012)
        stepped.append(levels)
    assert sum(found_at_the_step(lv) for lv in stepped) >= 6
    with _without_fold():
        assert sum(found_at_the_step(lv) for lv in stepped) <= 4


def test_the_same_hosts_without_a_step_raise_nothing():
    for seed in SEEDS:
        assert _alerts(hopping(200, gap=0.05, noise=0.003, seed=100 + seed)) == [], seed


class _without_fold:
    """The detector as it is with the fold turned off, to show what the fold adds."""

    def __enter__(self) -> None:
        self._saved = scan_module.fold_two_speeds
        scan_module.fold_two_speeds = lambda *args: None

    def __exit__(self, *exc: object) -> None:
        scan_module.fold_two_speeds = self._saved


def test_min_detectable_change_on_a_host_with_two_speeds_is_that_of_one_speed():
    levels = hopping(60, gap=0.06, noise=0.003, seed=5)
    hops = min_detectable_change(as_points(levels))
    steady = min_detectable_change(as_points(np.random.default_rng(5).normal(0, 0.003, 60)))
    assert hops < 2.0 * steady


def half_the_time_at_the_other_speed(seed: int, tail: list[float]) -> np.ndarray:
    """120 commits of a host at its 6 % slower speed about half the time (visits of one to
    five commits), then `tail` (log offsets from its usual speed, plus the same noise)."""
    levels = hopping(120, gap=0.06, noise=0.003, seed=seed, enter=0.35, stay=0.6)
    rest = np.asarray(tail) + np.random.default_rng(seed + 50).normal(0.0, 0.003, len(tail))
    return np.concatenate((levels, rest))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_host_half_the_time_at_its_other_speed_may_stay_there_a_while(monkeypatch, seed):
    """Eight commits in a row at the slow speed, then back: the host, not a change. Its
    reference is a mixture of both speeds, so the offset of the stay from the reference's
    robust level is not one the mode memory has seen; the speed levels of the reference are
    what keep the detector quiet (without them it raises alerts on these very hosts)."""
    levels = half_the_time_at_the_other_speed(seed, [math.log1p(0.06)] * 8 + [0.0] * 20)
    assert _alerts(levels) == []
    monkeypatch.setattr(scan_module, "_at_a_host_speed", lambda *args: False)
    assert _alerts(levels) != []


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("step", [0.02, 0.1, -0.1])
def test_a_step_on_a_host_half_the_time_at_its_other_speed_is_still_found(seed, step):
    """The same hosts with a true step at commit 120 that holds (the host still hopping):
    found at its commit within `max_lag` points, and nothing else."""
    hops = hopping(30, gap=0.06, noise=0.0, seed=seed + 200, enter=0.35, stay=0.6)
    levels = half_the_time_at_the_other_speed(seed, list(hops + math.log1p(step)))
    found = _alerts(levels)
    assert len(found) == 1 and abs(found[0] - 120) <= 1, found
