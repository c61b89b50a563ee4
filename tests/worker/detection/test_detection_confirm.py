"""A re-run (suspect and parent interleaved on one host) agrees with the stream or not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from worker.detection import confirm, confirmation_verdict

CASES = [
    # (suspect level, parent level, samples each, expected change % or None, state)
    (105.0, 100.0, 10, 5.0, "confirmed"),
    (95.0, 100.0, 10, -5.0, "confirmed"),
    (105.0, 100.0, 10, None, "confirmed"),  # two-sided: the re-run finds the direction
    (100.0, 100.0, 10, 5.0, "rejected"),
    (100.0, 100.0, 10, None, "rejected"),
    (95.0, 100.0, 10, 5.0, "rejected"),  # the re-run moves the other way
    (105.0, 100.0, 3, 5.0, "inconclusive"),  # 3 + 3 samples cannot reach p <= 0.01
]


@pytest.mark.parametrize("suspect,parent,n,expected,state", CASES)
def test_confirm(suspect, parent, n, expected, state):
    rng = np.random.default_rng(0)
    s = suspect * (1 + rng.normal(0, 0.01, n))
    p = parent * (1 + rng.normal(0, 0.01, n))
    result = confirm(s, p, expected_change_pct=expected, lower_is_better=True)
    assert result.state == state
    assert result.agrees == (state == "confirmed")
    assert 0.0 <= result.confidence <= 1.0
    assert result.change_pct == pytest.approx((suspect / parent - 1) * 100, abs=2.0)


def test_confirm_is_not_fooled_by_one_spike():
    rng = np.random.default_rng(1)
    parent = 100 * (1 + rng.normal(0, 0.01, 10))
    suspect = 100 * (1 + rng.normal(0, 0.01, 10))
    suspect[3] *= 1.5
    assert confirm(suspect, parent, expected_change_pct=5.0, lower_is_better=True).state == "rejected"


def runs(level, offsets, k=10, seed=0):
    rng = np.random.default_rng(seed)
    return [list(level * (1 + off) * (1 + rng.normal(0, 0.005, k))) for off in offsets]


def test_runs_must_all_agree():
    # Two runs a side (ABBA). A 5 % change shows in both suspect runs: confirmed.
    good = confirm(runs(105, [0.0, 0.004]), runs(100, [0.0, -0.004], seed=1), lower_is_better=True)
    assert good.state == "confirmed"
    # Run-to-run noise: one parent run came out as slow as a suspect run. 20 samples
    # against 20 pass a pooled test, but the runs do not separate.
    suspect, parent = runs(100, [0.06, 0.03]), runs(100, [0.0, 0.035], seed=1)
    pooled = mannwhitneyu(np.concatenate(suspect), np.concatenate(parent), alternative="two-sided").pvalue
    assert pooled <= 0.01  # the pooled samples alone would have confirmed it
    assert confirm(suspect, parent, lower_is_better=True).state == "rejected"


# Three runs a side, run-to-run noise far above the noise within a run (a process that lands
# on a slower placement runs slower throughout), and no change.
RUN_NOISE = [0.03, -0.05, 0.08, -0.02, 0.01, -0.06]


def test_runs_that_separate_by_chance_do_not_confirm():
    # The suspect's three runs happen to be the three slowest: 1 ordering in 20 does that.
    offsets = sorted(RUN_NOISE)
    suspect, parent = runs(100, offsets[3:]), runs(100, offsets[:3], seed=1)
    pooled = mannwhitneyu(np.concatenate(suspect), np.concatenate(parent), alternative="greater").pvalue
    assert pooled <= 0.01 and min(map(np.median, suspect)) > max(map(np.median, parent))
    result = confirm(suspect, parent, expected_change_pct=5.0, lower_is_better=True)
    assert result.state == "rejected"
    assert result.p_value > 0.01  # the run medians, the independent units, do not show it


def test_a_change_larger_than_the_run_noise_confirms_through_it():
    suspect = runs(100 * 1.5, RUN_NOISE[:3])
    parent = runs(100, RUN_NOISE[3:], seed=1)
    result = confirm(suspect, parent, expected_change_pct=40.0, lower_is_better=True)
    assert result.state == "confirmed"
    assert result.change_pct == pytest.approx(50.0, abs=8.0)


@pytest.mark.parametrize(
    "suspect,parent,lower_is_better,state",
    [
        (105.0, 100.0, True, "regression"),
        (105.0, 100.0, False, "improvement"),
        (100.0, 100.0, True, "no_change"),
    ],
)
def test_confirmation_verdict(suspect, parent, lower_is_better, state):
    rng = np.random.default_rng(2)
    result = confirm(
        suspect * (1 + rng.normal(0, 0.01, 10)),
        parent * (1 + rng.normal(0, 0.01, 10)),
        lower_is_better=lower_is_better,
    )
    verdict = confirmation_verdict(result, "abc", last_good_commit="abb")
    assert verdict.state == state and verdict.commit == "abc"
    assert verdict.last_good_commit == (None if state == "no_change" else "abb")


def test_inconclusive_stays_suspect():
    result = confirm([105.0, 106.0], [100.0, 101.0], expected_change_pct=5.0, lower_is_better=True)
    assert confirmation_verdict(result, "abc").state == "suspect"


@pytest.mark.parametrize(
    "suspect,parent,expected",
    [([], [1.0], 5.0), ([1.0], [0.0], 5.0), ([1.0], [1.0], 0.0), ([[1.0], []], [1.0], None)],
)
def test_confirm_rejects_bad_input(suspect, parent, expected):
    with pytest.raises(ValueError):
        confirm(suspect, parent, expected_change_pct=expected, lower_is_better=True)
