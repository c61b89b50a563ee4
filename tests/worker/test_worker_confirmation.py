"""A re-run's runs as ratios to their baseline: the quantity the stream follows, placed where
its point_level would put them even on a host that switches between two speeds."""

from __future__ import annotations

import math
import statistics

import numpy as np

from worker.confirmation import _relative_to_baseline
from worker.detection import baseline_log_ratio

NAME, BASELINE = "loop-eval-fp32-tuned_latency", "loop-eval-fp32-eager_latency"


def _two_speed_run(rng: np.random.Generator, slow: int, fast: int, work: float) -> list[float]:
    levels = np.r_[np.full(slow, 1.85), np.full(fast, 1.0)] * work
    return [float(v) for v in rng.permutation(levels * np.exp(rng.normal(0.0, 0.01, levels.size)))]


def test_each_run_sits_at_its_ratio_to_the_baseline_with_its_spread_kept() -> None:
    rng = np.random.default_rng(8)
    # The slow speed in 16 of 31 samples of one side and 15 of the other, alternating: the
    # ratio of the medians swings between 1.85 and 1 / 1.85 from run to run.
    runs = [_two_speed_run(rng, 16 - r % 2, 15 + r % 2, 3.0) for r in range(3)]
    bases = [_two_speed_run(rng, 15 + r % 2, 16 - r % 2, 2.0) for r in range(3)]
    relative = _relative_to_baseline({NAME: runs, BASELINE: bases}, NAME, BASELINE)
    assert relative is not None and len(relative) == 3
    for rel, run, base in zip(relative, runs, bases, strict=True):
        assert math.isclose(statistics.median(rel), math.exp(baseline_log_ratio(run, base)), rel_tol=1e-12)
        assert abs(statistics.median(rel) - 1.5) < 0.03
        assert np.allclose(np.array(rel) / np.array(run), rel[0] / run[0])  # one scale per run


def test_runs_without_a_matching_baseline_are_left_as_measured() -> None:
    runs = [[1.0, 1.1, 1.2]]
    assert _relative_to_baseline({NAME: runs}, NAME, None) is runs
    assert _relative_to_baseline({NAME: runs, BASELINE: [[1.0], [1.0]]}, NAME, BASELINE) is runs
    # A run with a sample no ratio can be taken of (a zero) is judged as measured.
    assert _relative_to_baseline({NAME: runs, BASELINE: [[1.0, 0.0, 1.0]]}, NAME, BASELINE) is runs
