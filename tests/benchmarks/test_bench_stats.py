"""`benchmarks.stats`: the run factor (what moved every benchmark of a run together) and the
pairwise (Hodges-Lehmann) ratio of two sets of samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.stats import coefficient_of_variation, hodges_lehmann_log_ratio, pairwise_ratio, run_factors


def test_a_run_slower_for_every_benchmark_is_its_run_factor_and_leaves_no_spread():
    steady = [10.0, 10.0, 10.0, 10.0, 10.0]
    # Run 0 was 12 % slower for every benchmark; nothing else moved.
    p50s = [[v * (1.12 if r == 0 else 1.0) * scale for r, v in enumerate(steady)] for scale in (1.0, 3.0, 40.0)]
    factors, residual = run_factors(p50s)
    assert factors[0] > 0.08 and all(f < 0 for f in factors[1:])
    assert (1 + factors[0]) / (1 + factors[1]) == pytest.approx(1.12)
    assert all(cv == pytest.approx(0.0, abs=1e-12) for cv in residual)
    assert all(coefficient_of_variation(row) > 0.04 for row in p50s)


def test_a_benchmark_that_moves_alone_keeps_its_spread():
    steady = [5.0, 5.0, 5.0, 5.0]
    wobbly = [5.0, 5.5, 4.6, 5.2]
    factors, residual = run_factors([steady, steady, wobbly])
    # The median over benchmarks ignores the one that moved alone.
    assert factors == pytest.approx([0.0, 0.0, 0.0, 0.0], abs=1e-12)
    assert residual[0] == pytest.approx(0.0, abs=1e-12)
    assert residual[2] == pytest.approx(coefficient_of_variation(wobbly))


def test_run_factors_needs_every_benchmark_in_every_run():
    with pytest.raises(ValueError, match="every run"):
        run_factors([[1.0, 2.0], [1.0]])
    with pytest.raises(ValueError, match="every run"):
        run_factors([])


def test_the_pairwise_ratio_ignores_spiked_samples_and_thins_very_large_runs():
    rng = np.random.default_rng(5)
    samples = list(1.3 * np.exp(rng.normal(0.0, 0.01, 41)))
    reference = list(np.exp(rng.normal(0.0, 0.01, 41)))
    clean = hodges_lehmann_log_ratio(samples, reference)
    assert abs(clean - math.log(1.3)) < 0.01
    spiked = samples[:36] + [50.0] * 5
    assert abs(hodges_lehmann_log_ratio(spiked, reference) - clean) < 0.01
    # Past the cap on pairs, both sides are thinned to order statistics: nearly the exact value.
    big_a, big_b = 1.1 * np.exp(rng.normal(0.0, 0.05, 2500)), np.exp(rng.normal(0.0, 0.05, 2500))
    exact = float(np.median(np.subtract.outer(np.log(big_a), np.log(big_b))))
    assert abs(hodges_lehmann_log_ratio(big_a, big_b) - exact) < 0.002


@pytest.mark.parametrize(("samples", "reference", "message"), [
    ([], [1.0], "samples on both sides"),
    ([1.0], [], "samples on both sides"),
    ([1.0, 0.0], [1.0], "finite positive"),
    ([1.0], [-2.0], "finite positive"),
    ([1.0, math.inf], [1.0], "finite positive"),
    ([1.0, math.nan], [1.0], "finite positive"),
])
def test_the_pairwise_ratio_refuses_what_has_no_log(samples, reference, message):
    with pytest.raises(ValueError, match=message):
        hodges_lehmann_log_ratio(samples, reference)


def test_the_pairwise_ratio_falls_back_to_the_medians_where_a_sample_has_no_log():
    assert pairwise_ratio([2.0, 2.2, 2.4], [1.0, 1.1, 1.2]) == pytest.approx(2.0)
    assert pairwise_ratio([0.0, 3.0, 3.0], [0.0, 2.0, 2.0]) == pytest.approx(1.5)
    assert pairwise_ratio([1.0, 2.0], [0.0, 0.0]) is None
