"""Value types shared by the detector, the confirmation test and the grouping of alerts.

They are plain frozen dataclasses so that the worker can build them from database rows and
store what comes back without this package knowing anything about either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

NO_CHANGE = "no_change"
SUSPECT = "suspect"
REGRESSION = "regression"
IMPROVEMENT = "improvement"
STATES = (NO_CHANGE, SUSPECT, REGRESSION, IMPROVEMENT)
CONFIRMED = "confirmed"
REJECTED = "rejected"
INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Point:
    """One measured commit of one series.

    `samples` are the k raw repeated measurements of the commit (k >= 1), in the metric's
    units. `baseline`, when the series has one, holds the samples of the baseline variant
    measured in the same job: the detector then follows the ratio samples/baseline, which
    cancels what the host did to both.
    """

    commit: str
    samples: Sequence[float]
    baseline: Sequence[float] | None = None
    host: str | None = None

    def __post_init__(self) -> None:
        _check_samples(f"samples of commit {self.commit!r}", self.samples)
        if self.baseline is not None:
            _check_samples(f"baseline of commit {self.commit!r}", self.baseline)


def _check_samples(what: str, values: Sequence[float]) -> None:
    if len(values) == 0:
        raise ValueError(f"{what} is empty; a point needs at least one sample")
    for v in values:
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{what} holds {v!r}; samples must be finite positive numbers")


@dataclass(frozen=True)
class Verdict:
    """What the detector says about one commit of one series.

    `state` is one of no_change, suspect, regression, improvement. `change_pct` is the
    estimated change in the metric's own units, (new/old - 1) * 100, so a slower latency is
    positive and a slower throughput negative. `confidence` is in [0, 1].
    `last_good_commit` is the measured commit just before the change (None for no_change).
    """

    commit: str
    state: str
    change_pct: float
    confidence: float
    last_good_commit: str | None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown verdict state {self.state!r}; allowed: {', '.join(STATES)}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} is outside [0, 1]")

    @property
    def is_alert(self) -> bool:
        """True for a confirmed change in either direction."""
        return self.state in (REGRESSION, IMPROVEMENT)


@dataclass(frozen=True)
class DetectorConfig:
    """Tuning of the detector. Few knobs on purpose: each one was chosen on labelled data
    and checked on a held-out half (see `python -m worker.detection evaluate`).

    window: points of history the detector looks at; callers pass at most this many.
    pre_window: points before a candidate change that form its reference level.
    max_lag: how far back (in measured commits) a change can still be confirmed from the
        stream; bounds the delay of an alert.
    warmup: reference points a new series needs before the stream alone confirms a change:
        its noise and its host's speeds must be seen first. Before that it can raise
        suspects (from `min_pre` points on), which a re-run can confirm.
    min_pre: fewest reference points a candidate needs after a confirmed change.
    min_post: fewest points at the new level before the stream alone confirms a change;
        two consecutive whole-run spikes must not look like a step.
    z_suspect / z_confirm: robust z-scores (change over its standard error, the noise taken
        from the series' own history) that raise a suspect and confirm it. z_confirm is
        5.8, not 5: on the series of seeds 7-15 and 16-21 of `synthetic.py` (2,700 and
        1,800) 5 raised 0.58 and 0.57 false alarms per 1,000 commits where 5.5 raised 0.46
        and 0.44, at the cost of R@5% 71.1 -> 68.1 and 67.2 -> 65.2 %. The slow lane's
        longer reach (`slow_max_lag` 40 and the checks of `scan.SLOW_LANE_MIN_REFERENCE`
        and `scan.SLOW_LANE_AUTOCORRELATION_Z`) found more changes per false alarm than a
        lower threshold does, and the threshold went up to give some of those alarms back:
        on seeds 46-57 (3,600 series), against 5.5 with the lane as it was, 5.7 / 5.8 / 5.9
        gave recall +2.1 / +1.6 / +0.9 points (R@5 +3.3 / +2.4 / +1.4) for 0.039 / 0.021 /
        0.015 false alarms per 1,000 commits more; most false alarms left are hosts staying
        at their other speed, far above any threshold. A suspect that a re-run confirms does
        not need z_confirm.
    mode_band / mode_min_points: a change is not believed from the stream when earlier
        points (at least `mode_min_points` more than plain noise explains) sat within
        `mode_band` noise-sigmas of the same offset from their level: a host that hops to
        a slower speed part of the time has shown that offset before. It stays a suspect,
        which a re-run can confirm.
    transient_max: a level that held for fewer commits than this and went back to the
        level before it is reported as a transient host state (the earlier change is
        withdrawn), not as a second change. A real regression reverted that quickly is
        withdrawn too, which is what its alert should say anyway.
    local_z: the z-score a change must also reach against the last `min_pre` reference
        points alone; a drift has already moved those, a step has not.
    slow_max_lag / slow_local_z: the slow lane. A step too small for `max_lag` points to
        show (on a noisy series, a 5 % change can be one noise-sigma) is confirmed once up
        to `slow_max_lag` points hold it, at the same `z_confirm`, against at least
        `scan.SLOW_LANE_MIN_REFERENCE` (up to `pre_window`) points of reference whose
        consecutive points are uncorrelated (no drift; a host that stays at each of two
        speeds only where the reference folded onto one speed is), where neither
        side's level moved within itself (`scan.SLOW_LANE_STATIONARY_Z`); `slow_local_z`
        replaces `local_z` there, since the last `min_pre` reference points alone cannot
        carry such a step. Equal to `max_lag`: no slow lane. 40 rather than 30: on seeds
        22-27 of `synthetic.py` (1,800 series, at z 5.7), recall +1.1 points (R@3 +2.1,
        R@5 +1.8) for 0.010 false alarms per 1,000 commits more (not clear of the luck of
        the series) and a delay p90 of 13 commits (11 at the old defaults, z 5.5 and 30);
        50 added 0.030 more for recall +0.7.
    noise_floor_pct: smallest noise assumed, so that a near-constant series does not turn
        a rounding step into an alert.
    confirm_alpha: significance level of a re-run (suspect against parent).
    """

    window: int = 150
    pre_window: int = 40
    max_lag: int = 12
    warmup: int = 20
    min_pre: int = 8
    min_post: int = 3
    z_suspect: float = 4.0
    z_confirm: float = 5.8
    mode_band: float = 1.5
    mode_min_points: int = 2
    transient_max: int = 20
    local_z: float = 4.0
    slow_max_lag: int = 40
    slow_local_z: float = 2.5
    noise_floor_pct: float = 0.05
    confirm_alpha: float = 0.01

    @property
    def noise_floor(self) -> float:
        """`noise_floor_pct` as a log-level scale, the unit every noise estimate is in."""
        return math.log1p(self.noise_floor_pct / 100.0)

    def __post_init__(self) -> None:
        for name in (
            "window", "pre_window", "max_lag", "slow_max_lag", "warmup", "min_pre", "min_post", "mode_min_points",
            "transient_max",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"DetectorConfig.{name}={getattr(self, name)}; must be >= 1")
        if self.min_post > self.max_lag:
            raise ValueError(f"min_post={self.min_post} exceeds max_lag={self.max_lag}")
        if self.slow_max_lag < self.max_lag:
            raise ValueError(f"slow_max_lag={self.slow_max_lag} is below max_lag={self.max_lag}")
        if self.window < self.pre_window + self.slow_max_lag:
            raise ValueError(
                f"window={self.window} is shorter than pre_window + slow_max_lag "
                f"= {self.pre_window + self.slow_max_lag}"
            )
        if self.slow_local_z <= 0:
            raise ValueError(f"slow_local_z={self.slow_local_z}; must be > 0")
        if self.min_pre > self.pre_window:
            raise ValueError(f"min_pre={self.min_pre} exceeds pre_window={self.pre_window}")
        if not 0 < self.z_suspect <= self.z_confirm:
            raise ValueError(
                f"need 0 < z_suspect <= z_confirm, got {self.z_suspect} and {self.z_confirm}"
            )
        if self.mode_band <= 0:
            raise ValueError(f"mode_band={self.mode_band}; must be > 0")
        if self.noise_floor_pct < 0:
            raise ValueError(f"noise_floor_pct={self.noise_floor_pct}; must be >= 0")
        if not 0 < self.confirm_alpha < 0.5:
            raise ValueError(f"confirm_alpha={self.confirm_alpha}; allowed: (0, 0.5)")


@dataclass(frozen=True)
class Alert:
    """A confirmed change of one series, as the worker stores it; the input of grouping.

    `state` is regression or improvement; `change_pct` is in the metric's units as in
    `Verdict` (its sign alone does not say better or worse: that depends on the metric).
    """

    series: str
    commit: str
    state: str
    change_pct: float
    confidence: float = 1.0
    host: str | None = None
    last_good_commit: str | None = None

    def __post_init__(self) -> None:
        if self.state not in (REGRESSION, IMPROVEMENT):
            raise ValueError(f"alert state {self.state!r}; allowed: {REGRESSION}, {IMPROVEMENT}")


@dataclass(frozen=True)
class AlertGroup:
    """All alerts that blame one commit: "this commit moved 14 series on 2 hosts"."""

    commit: str
    alerts: tuple[Alert, ...]
    hosts: tuple[str, ...]
    regressions: int
    improvements: int
    max_abs_change_pct: float
    summary: str


@dataclass(frozen=True)
class Confirmation:
    """Outcome of a re-run of the suspect commit against its parent.

    state: confirmed (the re-run shows the change, in the expected direction), rejected
        (it could have shown it and did not) or inconclusive (too few samples for the test
        to reach its significance level).
    change_pct: the re-run's own estimate of the change, in the metric's units.
    confidence: 1 - p-value of the test (one-sided when a direction was expected).
    lower_is_better: the metric's direction, to label a confirmed change.
    """

    state: str
    change_pct: float
    confidence: float
    p_value: float
    lower_is_better: bool

    @property
    def agrees(self) -> bool:
        return self.state == CONFIRMED
