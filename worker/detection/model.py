"""Value types shared by the detector, the confirmation test and the grouping of alerts.

They are plain frozen dataclasses so that the worker can build them from database rows and
store what comes back without this package knowing anything about either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

NO_CHANGE = "no_change"
SUSPECT = "suspect"
REGRESSION = "regression"
IMPROVEMENT = "improvement"
STATES = (NO_CHANGE, SUSPECT, REGRESSION, IMPROVEMENT)


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
    warmup: points a new series needs before its first verdict: its noise and its host's
        speeds must be seen before a change can be told from them.
    min_pre: fewest reference points a candidate needs after a confirmed change.
    min_post: fewest points at the new level before the stream alone confirms a change;
        two consecutive whole-run spikes must not look like a step.
    z_suspect / z_confirm: robust z-scores (change over its standard error, the noise taken
        from the series' own history) that raise a suspect and confirm it.
    mode_band / mode_min_points: a change is not believed from the stream when at least
        `mode_min_points` earlier points sat within `mode_band` noise-sigmas of the same
        offset from their level: a host that hops to a slower speed part of the time has
        shown that offset before. A re-run still can confirm such a change.
    transient_max: a level that held for fewer commits than this and went back to the
        level before it is reported as a transient host state (the earlier change is
        withdrawn), not as a second change. A real regression reverted that quickly is
        withdrawn too, which is what its alert should say anyway.
    noise_floor_pct: smallest noise assumed, so that a near-constant series does not turn
        a rounding step into an alert.
    confirm_alpha: significance level of a re-run (suspect against parent).
    """

    window: int = 150
    pre_window: int = 40
    max_lag: int = 8
    warmup: int = 15
    min_pre: int = 8
    min_post: int = 3
    z_suspect: float = 4.0
    z_confirm: float = 6.0
    mode_band: float = 2.0
    mode_min_points: int = 3
    transient_max: int = 20
    noise_floor_pct: float = 0.05
    confirm_alpha: float = 0.01

    def __post_init__(self) -> None:
        for name in (
            "window", "pre_window", "max_lag", "warmup", "min_pre", "min_post", "mode_min_points", "transient_max"
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"DetectorConfig.{name}={getattr(self, name)}; must be >= 1")
        if self.min_post > self.max_lag:
            raise ValueError(f"min_post={self.min_post} exceeds max_lag={self.max_lag}")
        if self.window < self.pre_window + self.max_lag:
            raise ValueError(
                f"window={self.window} is shorter than pre_window + max_lag "
                f"= {self.pre_window + self.max_lag}"
            )
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
    """A confirmed change of one series, as the worker stores it; the input of grouping."""

    series: str
    commit: str
    change_pct: float
    confidence: float = 1.0
    host: str | None = None
    last_good_commit: str | None = None


@dataclass(frozen=True)
class AlertGroup:
    """All alerts that blame one commit: "this commit moved 14 series on 2 hosts"."""

    commit: str
    alerts: tuple[Alert, ...]
    hosts: tuple[str, ...]
    regressions: int
    improvements: int
    max_abs_change_pct: float
    summary: str = field(default="")
