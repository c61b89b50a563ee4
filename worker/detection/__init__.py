"""Change detection for benchmark series: numpy and scipy only, no I/O.

A series is one benchmark on one host. For each new measured commit the detector says
whether performance changed, using the commit's raw samples (and, where the series has
one, the baseline variant measured in the same job as a control), with a threshold set by
the series' own noise.

Public API (everything the worker needs):

``Point(commit, samples, baseline=None, host=None)``
    One measured commit: its k >= 1 raw samples; ``baseline`` the same job's baseline
    variant samples, if any (the detector then follows samples/baseline, which cancels
    host drift).

``baseline_log_ratio(samples, baseline) -> float``
    The level of a point with a baseline: the median log ratio over all sample pairs,
    which a host switching between two speeds does not move as it moves a ratio of medians
    (`benchmarks.stats.hodges_lehmann_log_ratio`, the ratio ``benchmarks compare`` and the
    dashboard's comparisons report too).

``Verdict(commit, state, change_pct, confidence, last_good_commit)``
    ``state`` is ``no_change``, ``suspect``, ``regression`` or ``improvement``;
    ``change_pct`` = (new/old - 1) * 100 in the metric's units; ``confidence`` in [0, 1]
    (for a suspect, the share of the evidence a confirmation needs); ``last_good_commit``
    the measured commit before the change. ``Verdict.is_alert`` is true for a confirmed
    change.

``DetectorConfig(...)``
    Frozen, validated tuning (see its docstring). ``window`` bounds the history used.

``evaluate_point(history, new, *, lower_is_better, config=DetectorConfig(), changes=(),
open_suspect=None) -> list[Verdict]``
    Stateless step. ``history``: the series' previous points, oldest first (at most
    ``config.window - 1`` are used); ``changes``: commits of the series' confirmed changes
    (its open or confirmed alerts); ``open_suspect``: the commit of its open suspect, if
    any. Returns the verdict for ``new`` and verdicts for earlier commits: the open
    suspect at every step while it is open (``suspect`` with updated figures), when it
    is confirmed (``regression`` or ``improvement``; the worker then adds it to
    ``changes``), moved to a neighbouring commit or withdrawn (``no_change``); and a
    confirmed change withdrawn as a transient host state (``no_change`` for a commit in
    ``changes``: the level went back within ``config.transient_max`` commits).
    O(window) per call.

``SeriesDetector(*, lower_is_better, config=DetectorConfig())``
    The same logic, stateful: ``update(point) -> list[Verdict]``; ``changes`` and
    ``open_suspect`` expose its state; ``SeriesDetector.from_history(...)`` rebuilds it.

``confirm(suspect, parent, *, expected_change_pct=None, lower_is_better,
config=DetectorConfig()) -> Confirmation``
    Judges a re-run (suspect and parent interleaved on one host). Each side is samples
    (one per run) or runs (lists of samples; then every suspect run must also lie past
    every parent run). ``expected_change_pct`` (the suspect's ``change_pct``) makes the
    test one-sided. ``Confirmation.state`` is ``confirmed``, ``rejected`` or
    ``inconclusive`` (too few samples to reach ``config.confirm_alpha``); ``.agrees``,
    ``.change_pct``, ``.confidence``, ``.p_value``.
    ``confirmation_verdict(result, commit, last_good_commit=None) -> Verdict`` turns it
    into the suspect's verdict: regression/improvement, no_change, or still suspect.

``min_detectable_change(history, *, config=DetectorConfig(), changes=(), lag=None) -> float``
    Smallest step in percent the stream confirms within ``lag`` points (default
    ``config.max_lag``; ``config.slow_max_lag`` for the slow lane), for this series' noise
    (``math.inf`` with fewer than three points). ``min_detectable_changes(history, *, lags,
    config=DetectorConfig(), changes=()) -> tuple[float, ...]`` gives it for several lags from
    one estimate of the noise.

``group_alerts(alerts: Sequence[Alert]) -> list[AlertGroup]``
    ``Alert(series, commit, state, change_pct, confidence=1.0, host=None,
    last_good_commit=None)``; one ``AlertGroup(commit, alerts, hosts, regressions,
    improvements, max_abs_change_pct, summary)`` per commit, largest change first;
    ``summary`` reads "abc1234 moved 14 series on 2 hosts (12 worse, 2 better; ...)".

``DETECTOR_CONFIG``
    The settings the platform runs the detector with: the worker's verdicts and the
    dashboard's smallest detectable change both read them.

``python -m worker.detection evaluate FILE.jsonl [--json]`` replays a labelled file and
compares this detector with the fixed threshold, lookback z-score and sliding t-test.
"""

from .confirm import confirm, confirmation_verdict
from .detector import (
    SeriesDetector,
    baseline_log_ratio,
    evaluate_point,
    min_detectable_change,
    min_detectable_changes,
    point_level,
)
from .grouping import group_alerts
from .model import (
    IMPROVEMENT,
    NO_CHANGE,
    REGRESSION,
    SUSPECT,
    Alert,
    AlertGroup,
    Confirmation,
    DetectorConfig,
    Point,
    Verdict,
)

DETECTOR_CONFIG = DetectorConfig()

__all__ = [
    "DETECTOR_CONFIG",
    "IMPROVEMENT",
    "NO_CHANGE",
    "REGRESSION",
    "SUSPECT",
    "Alert",
    "AlertGroup",
    "Confirmation",
    "DetectorConfig",
    "Point",
    "SeriesDetector",
    "Verdict",
    "baseline_log_ratio",
    "confirm",
    "confirmation_verdict",
    "evaluate_point",
    "group_alerts",
    "min_detectable_change",
    "min_detectable_changes",
    "point_level",
]
