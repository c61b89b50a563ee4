"""A re-run (suspect and parent interleaved on one host) agrees with the stream or not."""

from __future__ import annotations

import numpy as np
import pytest

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
    lucky = confirm(runs(100, [0.06, 0.03]), runs(100, [0.0, 0.035], seed=1), lower_is_better=True)
    assert lucky.p_value <= 0.01  # the pooled samples alone would have confirmed it
    assert lucky.state == "rejected"


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
