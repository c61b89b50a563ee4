"""Read and validate a suite's results file before anything of it is stored.

The format and its validator belong to the benchmark suite (:func:`benchmarks.results.load_results`:
TorchBench-style ``name``, ``environ`` and ``metrics``, plus ``results`` with one entry per
benchmark metric: raw samples, unit, direction, status and error). A file is rejected whole,
with the validator's message naming the field: storing the good half of a broken file would
make a series look complete when it is not. Failed and skipped benchmarks are not results;
the job keeps their reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.results import ResultsError, load_results
from db.results import series_name

MAX_RESULTS_BYTES = 32 * 1024 * 1024


class ResultsRejected(ValueError):
    """The results file cannot be stored; the message says which field is wrong."""


@dataclass(frozen=True)
class Measurement:
    model: str
    mode: str
    precision: str
    variant: str
    metric: str
    unit: str
    direction: str
    samples: tuple[float, ...]
    family: str = ""
    # A metric the platform follows as a series (change detection, alerts); the others
    # (p90 next to p50, memory, accuracy) are stored and charted but raise no alerts.
    primary: bool = True

    @property
    def name(self) -> str:
        return series_name(self)


@dataclass(frozen=True)
class SuiteResults:
    measurements: tuple[Measurement, ...]
    failures: Mapping[str, str] = field(default_factory=dict)  # benchmark metric -> why it has no samples
    environ: Mapping[str, Any] = field(default_factory=dict)


def read_results(path: Path) -> SuiteResults:
    """Read, bound and validate ``path``; raise :class:`ResultsRejected` with the reason."""
    if not path.is_file():
        raise ResultsRejected("the suite wrote no results file")
    try:
        loaded = load_results(path, max_bytes=MAX_RESULTS_BYTES)
    except ResultsError as exc:
        raise ResultsRejected(str(exc)) from None
    ok = [r for r in loaded.results if r.status == "ok"]
    # A file that marks no metric primary (a small project's own suite) has all of them followed.
    any_primary = any(r.primary for r in ok)
    measurements = tuple(
        Measurement(model=r.model, mode=r.mode, precision=r.precision, variant=r.variant, metric=r.metric,
                    unit=r.unit, direction=r.direction, samples=tuple(float(v) for v in r.samples),
                    family=r.family, primary=r.primary or not any_primary)
        for r in ok
    )
    failures = {r.metric_key: f"{r.status}: {r.error}"[:2000] for r in loaded.results if r.status != "ok"}
    return SuiteResults(measurements, failures, dict(loaded.environ))
