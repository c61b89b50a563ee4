"""Labelled benchmark histories drawn from a stated noise model, in the format `evaluate` reads.

Why: the detector's settings were chosen on one labelled file, and a setting tuned long
enough on one file learns its particular series. Series drawn afresh from the same kind of
model (the noise a pinned benchmark host produces: run-to-run and within-run noise, spiked
runs and samples, drift, a host that hops between two speeds, unmeasured commits, true
steps of 1 to 20 %) give figures on data nobody tuned on, as many files as one wants, each
reproducible from its seed.

Everything is multiplicative (a log level plus noise), so a series' base value only sets its
units. "Worse" is slower: larger for a latency, smaller for a throughput; spikes and the
slow host speed are always worse, true changes are regressions or improvements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .scoring import SIZES

DRIFT_KINDS = ("none", "linear", "random_walk", "sinusoid")


@dataclass(frozen=True)
class NoiseModel:
    """Ranges the parameters of each series are drawn from (uniform unless said).

    cv: total coefficient of variation of one sample, log-uniform.
    between_share: share of its variance that is run-to-run (shared by the samples of a
        commit); the rest is within-run.
    p_spiked_runs / run_outlier_rate: share of series with whole-run spikes, and their rate.
    p_spiked_samples / sample_outlier_rate: the same for single spiked samples.
    outlier_size: how much worse a spiked run or sample is.
    drift_weights: probabilities of no drift, linear, random walk and sinusoid.
    p_bimodal: share of series on a host with two speeds; gap, p_enter (fast to slow per
        commit) and p_exit (slow to fast) of its Markov chain.
    p_missing_series / missing_rate: share of series with unmeasured commits, and their rate.
    change_counts: probabilities of 0, 1, 2, ... true changes in a series.
    p_regression: share of true changes that are regressions.
    min_gap: fewest commits between two true changes, and between one and either end.
    """

    n_commits: tuple[int, int] = (50, 400)
    repeats: tuple[int, ...] = (1, 3, 5, 10)
    cv: tuple[float, float] = (0.005, 0.05)
    between_share: tuple[float, float] = (0.2, 0.8)
    p_spiked_runs: float = 0.6
    run_outlier_rate: tuple[float, float] = (0.002, 0.03)
    p_spiked_samples: float = 0.6
    sample_outlier_rate: tuple[float, float] = (0.005, 0.05)
    outlier_size: tuple[float, float] = (0.2, 0.5)
    drift_weights: tuple[float, float, float, float] = (0.65, 0.12, 0.12, 0.11)
    linear_total: tuple[float, float] = (0.005, 0.03)
    random_walk_step: tuple[float, float] = (0.0002, 0.001)
    sinusoid_amplitude: tuple[float, float] = (0.005, 0.02)
    sinusoid_period: tuple[float, float] = (50.0, 200.0)
    p_bimodal: float = 0.25
    bimodal_gap: tuple[float, float] = (0.02, 0.08)
    bimodal_p_enter: tuple[float, float] = (0.02, 0.15)
    bimodal_p_exit: tuple[float, float] = (0.1, 0.5)
    p_missing_series: float = 0.5
    missing_rate: tuple[float, float] = (0.01, 0.08)
    change_counts: tuple[float, ...] = (0.24, 0.36, 0.18, 0.14, 0.08)
    p_regression: float = 0.6
    min_gap: int = 20

    def __post_init__(self) -> None:
        for name in ("drift_weights", "change_counts"):
            weights = getattr(self, name)
            if any(w < 0 for w in weights) or not math.isclose(sum(weights), 1.0, abs_tol=1e-9):
                raise ValueError(f"{name} must be probabilities that sum to 1, got {weights}")
        if self.n_commits[0] < 2 * self.min_gap + 1:
            raise ValueError(f"n_commits starts at {self.n_commits[0]}, too short for min_gap {self.min_gap}")


def generate(n_series: int, seed: int, model: NoiseModel = NoiseModel()) -> list[dict]:
    """`n_series` labelled series (rows of the detect-dev.jsonl format); the same seed
    gives the same rows."""
    if n_series < 1:
        raise ValueError(f"n_series must be at least 1, got {n_series}")
    rng = np.random.default_rng(seed)
    return [_series(rng, f"syn-{seed}-{i:04d}", model) for i in range(n_series)]


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def _series(rng: np.random.Generator, name: str, model: NoiseModel) -> dict:
    n = int(rng.integers(model.n_commits[0], model.n_commits[1] + 1))
    k = int(rng.choice(model.repeats))
    lower_is_better = bool(rng.random() < 0.5)
    # +1 moves a value the worse way in log units: up for a latency, down for a throughput.
    worse = 1.0 if lower_is_better else -1.0
    base = float(10.0 ** rng.uniform(-1.0, 6.0))
    cv = float(math.exp(rng.uniform(math.log(model.cv[0]), math.log(model.cv[1]))))
    share = _uniform(rng, model.between_share)
    cv_between, cv_within = cv * math.sqrt(share), cv * math.sqrt(1.0 - share)
    p_run = _uniform(rng, model.run_outlier_rate) if rng.random() < model.p_spiked_runs else 0.0
    p_sample = _uniform(rng, model.sample_outlier_rate) if rng.random() < model.p_spiked_samples else 0.0
    p_missing = _uniform(rng, model.missing_rate) if rng.random() < model.p_missing_series else 0.0

    changes = _changes(rng, n, lower_is_better, model)
    level = np.full(n, math.log(base))
    for change in changes:
        level[change["index"] :] += math.log1p(change["rel_change"])
    drift_shape, drift = _drift(rng, n, model)
    level += drift_shape
    slow, bimodal = _two_speeds(rng, n, model)
    level += worse * slow

    run_noise = rng.normal(0.0, cv_between, n)
    run_spike = np.where(rng.random(n) < p_run, worse * np.log1p(rng.uniform(*model.outlier_size, n)), 0.0)
    samples = level + run_noise + run_spike
    samples = samples[:, None] + rng.normal(0.0, cv_within, (n, k))
    sample_spike = rng.random((n, k)) < p_sample
    samples += np.where(sample_spike, worse * np.log1p(rng.uniform(*model.outlier_size, (n, k))), 0.0)
    measured = rng.random(n) >= p_missing
    raw = [[float(f"{v:.7g}") for v in np.exp(row)] if keep else [] for row, keep in zip(samples, measured)]

    return {
        "id": name,
        "benchmark": f"bench_{name}",
        "metric": "latency" if lower_is_better else "throughput",
        "unit": "ms" if lower_is_better else "ops/s",
        "lower_is_better": lower_is_better,
        "n_commits": n,
        "repeats": k,
        "values": [float(f"{np.median(r):.7g}") if r else None for r in raw],
        "raw": raw,
        "changes": changes,
        "noise": {
            "base": float(f"{base:.7g}"),
            "cv": cv,
            "cv_between_runs": cv_between,
            "cv_within_run": cv_within,
            # The median of k > 1 samples has about pi/2 times the variance of their mean.
            "approx_cv_of_commit_median": math.sqrt(
                cv_between**2 + cv_within**2 * (1.0 if k == 1 else math.pi / 2) / k
            ),
            "p_run_outlier": p_run,
            "p_sample_outlier": p_sample,
            "outlier_size_rel": list(model.outlier_size),
            "drift": drift,
            "bimodal": bimodal,
            "p_missing": p_missing,
            "n_missing": int(n - measured.sum()),
        },
    }


def _changes(rng: np.random.Generator, n: int, lower_is_better: bool, model: NoiseModel) -> list[dict]:
    """True steps at least `min_gap` commits from each other and from both ends: as many
    as drawn, or as many as fit."""
    wanted = int(rng.choice(len(model.change_counts), p=model.change_counts))
    # Draw positions in the room left after reserving the gaps, then add the gaps back, so
    # that every change keeps its distance from the next and from both ends.
    count = min(wanted, (n - 1) // model.min_gap - 1)
    room = n - 1 - (count + 1) * model.min_gap
    if count <= 0 or room < 0:
        return []
    offsets = np.sort(rng.integers(0, room + 1, count))
    out = []
    for j, offset in enumerate(offsets):
        magnitude = float(rng.choice(SIZES))
        regression = bool(rng.random() < model.p_regression)
        # A regression makes a latency larger and a throughput smaller.
        rel = magnitude if regression == lower_is_better else -magnitude
        out.append(
            {
                "index": int(offset) + (j + 1) * model.min_gap,
                "rel_change": rel,
                "magnitude": magnitude,
                "direction": "regression" if regression else "improvement",
            }
        )
    return out


def _drift(rng: np.random.Generator, n: int, model: NoiseModel) -> tuple[np.ndarray, dict]:
    kind = str(rng.choice(DRIFT_KINDS, p=model.drift_weights))
    t = np.arange(n, dtype=float)
    if kind == "linear":
        total = _uniform(rng, model.linear_total) * rng.choice((-1.0, 1.0))
        return math.log1p(total) * t / (n - 1), {"kind": kind, "total_rel": total}
    if kind == "random_walk":
        step = _uniform(rng, model.random_walk_step)
        return np.cumsum(rng.normal(0.0, step, n)), {"kind": kind, "step_sd": step}
    if kind == "sinusoid":
        amplitude = _uniform(rng, model.sinusoid_amplitude)
        period = _uniform(rng, model.sinusoid_period)
        phase = rng.uniform(0.0, 2.0 * math.pi)
        shape = amplitude * np.sin(2.0 * math.pi * t / period + phase)
        return shape, {"kind": kind, "amplitude_rel": amplitude, "period": period}
    return np.zeros(n), {"kind": "none"}


def _two_speeds(rng: np.random.Generator, n: int, model: NoiseModel) -> tuple[np.ndarray, dict]:
    """Log offset of the slow speed at each commit (0 at the usual speed), and its record."""
    if rng.random() >= model.p_bimodal:
        return np.zeros(n), {"enabled": False}
    gap = _uniform(rng, model.bimodal_gap)
    p_enter, p_exit = _uniform(rng, model.bimodal_p_enter), _uniform(rng, model.bimodal_p_exit)
    u = rng.random(n)
    slow = np.zeros(n, dtype=bool)
    state = False
    for i in range(n):
        state = u[i] >= p_exit if state else u[i] < p_enter
        slow[i] = state
    record = {"enabled": True, "gap_rel": gap, "p_enter": p_enter, "p_exit": p_exit, "frac_slow": float(slow.mean())}
    return np.where(slow, math.log1p(gap), 0.0), record
