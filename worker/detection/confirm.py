"""Confirmation of a suspect by a re-run: suspect and parent measured again, interleaved, on
the same host.

Interleaving puts both under the same host state, so the two sets of samples can be compared
directly. The test is Mann-Whitney's on the log samples (spikes cannot carry it), one-sided
in the direction the stream saw when that is given; the size of the change is the
Hodges-Lehmann estimate (median of pairwise log ratios).

Samples of one run share that run's noise, so they are not independent evidence. Each side
can therefore be given as runs (a list of sample lists): then, besides the test on all
samples, the runs themselves must show the change. Every suspect run must lie on the
changed side of every parent run (by its median), so that one lucky run cannot confirm a
change alone; and a t-test on the run medians (the runs are the independent units, and the
host's run-to-run noise is the same on both sides, so the variance is pooled) must reach the
same significance. The ordering alone is not enough: with three runs a side a chance
ordering happens 1 time in 20, and where run-to-run noise dominates (a process lands on a
slower core or memory placement) the pooled samples then pass too.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.stats import mannwhitneyu, ttest_ind

from .model import (
    CONFIRMED,
    IMPROVEMENT,
    INCONCLUSIVE,
    NO_CHANGE,
    REGRESSION,
    REJECTED,
    SUSPECT,
    Confirmation,
    DetectorConfig,
    Verdict,
)

Samples = Sequence[float] | Sequence[Sequence[float]]


def confirm(
    suspect: Samples,
    parent: Samples,
    *,
    expected_change_pct: float | None = None,
    lower_is_better: bool,
    config: DetectorConfig = DetectorConfig(),
) -> Confirmation:
    """Does the re-run show a change of the suspect against its parent?

    `suspect` and `parent` are samples (one per run) or runs (lists of samples).
    `expected_change_pct` (metric units, as `Verdict.change_pct`) makes the test one-sided
    in that direction; without it the re-run alone decides the direction.
    `lower_is_better` only labels the outcome (see `Confirmation.verdict`).
    """
    s_runs = _runs("suspect", suspect)
    p_runs = _runs("parent", parent)
    if expected_change_pct is not None and (expected_change_pct == 0 or not math.isfinite(expected_change_pct)):
        raise ValueError(f"expected_change_pct={expected_change_pct}; must be finite and non-zero, or None")
    s_all, p_all = np.concatenate(s_runs), np.concatenate(p_runs)
    shift = float(np.median(np.subtract.outer(s_all, p_all)))
    if expected_change_pct is None:
        p_value = float(mannwhitneyu(s_all, p_all, alternative="two-sided").pvalue)
        up = shift > 0
        smallest = 2.0 * _smallest_p(s_all.size, p_all.size)
    else:
        up = expected_change_pct > 0
        p_value = float(mannwhitneyu(s_all, p_all, alternative="greater" if up else "less").pvalue)
        smallest = _smallest_p(s_all.size, p_all.size)
    run_p = _run_level_p(s_runs, p_runs, None if expected_change_pct is None else up)
    if run_p is not None:
        p_value = max(p_value, run_p)
    if p_value <= config.confirm_alpha and _runs_separate(s_runs, p_runs, up) and (shift > 0) == up:
        state = CONFIRMED
    elif smallest > config.confirm_alpha:
        state = INCONCLUSIVE
    else:
        state = REJECTED
    return Confirmation(
        state=state,
        change_pct=math.expm1(shift) * 100.0,
        confidence=1.0 - p_value,
        p_value=p_value,
        lower_is_better=lower_is_better,
    )


def confirmation_verdict(
    result: Confirmation, commit: str, *, last_good_commit: str | None = None
) -> Verdict:
    """The verdict a re-run gives the suspect: confirmed -> regression or improvement,
    rejected -> no_change, inconclusive -> still suspect."""
    if result.state == CONFIRMED:
        worse = result.change_pct > 0 if result.lower_is_better else result.change_pct < 0
        state = REGRESSION if worse else IMPROVEMENT
    else:
        state = NO_CHANGE if result.state == REJECTED else SUSPECT
    return Verdict(
        commit=commit,
        state=state,
        change_pct=result.change_pct if state != NO_CHANGE else 0.0,
        confidence=result.confidence,
        last_good_commit=last_good_commit if state != NO_CHANGE else None,
    )


def _runs(name: str, values: Samples) -> list[np.ndarray]:
    if len(values) == 0:
        raise ValueError(f"{name} is empty; give samples (one per run) or runs (lists of samples)")
    nested = all(isinstance(v, (list, tuple, np.ndarray)) for v in values)
    runs = [np.asarray(v, dtype=float) for v in values] if nested else [np.asarray([v], dtype=float) for v in values]
    for run in runs:
        if run.ndim != 1 or run.size == 0:
            raise ValueError(f"{name} holds an empty or malformed run")
        if not np.all(np.isfinite(run)) or np.any(run <= 0):
            raise ValueError(f"{name} holds a non-finite or non-positive sample; samples must be > 0")
    return [np.log(run) for run in runs]


def _run_medians(runs: list[np.ndarray]) -> list[float]:
    return [float(np.median(r)) for r in runs]


def _one_sample_runs(s_runs: list[np.ndarray], p_runs: list[np.ndarray]) -> bool:
    """One sample per run: the rank test already weighs each run once."""
    return all(r.size == 1 for r in s_runs) and all(r.size == 1 for r in p_runs)


def _runs_separate(s_runs: list[np.ndarray], p_runs: list[np.ndarray], up: bool) -> bool:
    """With several samples per run, every suspect run lies past every parent run."""
    if _one_sample_runs(s_runs, p_runs):
        return True
    s_med, p_med = _run_medians(s_runs), _run_medians(p_runs)
    return min(s_med) > max(p_med) if up else max(s_med) < min(p_med)


def _run_level_p(s_runs: list[np.ndarray], p_runs: list[np.ndarray], up: bool | None) -> float | None:
    """Student's t-test on the run medians (one-sided when ``up`` is given), or None when the
    runs cannot be compared as units (one sample each, or a side with a single run)."""
    if _one_sample_runs(s_runs, p_runs) or len(s_runs) < 2 or len(p_runs) < 2:
        return None
    alternative = "two-sided" if up is None else ("greater" if up else "less")
    p_value = float(ttest_ind(_run_medians(s_runs), _run_medians(p_runs), equal_var=True,
                              alternative=alternative).pvalue)
    return None if math.isnan(p_value) else p_value  # no spread at all: the ordering decides


def _smallest_p(n: int, m: int) -> float:
    """The smallest one-sided p-value Mann-Whitney can give for n and m samples."""
    return 1.0 / math.comb(n + m, n)
