"""Storing measured results: the one write path for results, used by the worker (its own runs)
and by the API (a results file uploaded by an external runner).

Benchmark rows are shared and created once (concurrency-safe); each measurement becomes one
result of the job with its raw samples and their summary statistics, and the store's unique
(job, benchmark) constraint keeps a repeated write from doubling anything. Everything runs in
the caller's transaction: a failure leaves nothing behind.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import dialect_insert
from db.models import Benchmark, Direction, Job, Result

# Column widths of the benchmark table. A longer name is refused by check_names (an upload's
# answer says which field); a family name is cut to fit instead, as it only groups columns.
NAME_LIMITS = {
    name: Benchmark.__table__.c[name].type.length
    for name in ("model", "mode", "precision", "variant", "metric", "unit", "family")
}

BenchmarkKey = tuple[str, str, str, str, str]  # (model, mode, precision, variant, metric)


class Measured(Protocol):
    """One benchmark metric's raw samples, as both the worker's reader and the results file
    format describe it."""

    @property
    def model(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def precision(self) -> str: ...
    @property
    def variant(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def direction(self) -> str: ...
    @property
    def family(self) -> str: ...
    @property
    def samples(self) -> Sequence[float]: ...
    @property
    def primary(self) -> bool: ...


def benchmark_key(m: Measured) -> BenchmarkKey:
    return (m.model, m.mode, m.precision, m.variant, m.metric)


def series_name(m: Measured) -> str:
    """``<model>-<mode>-<precision>-<variant>_<metric>``, the results file's metric key."""
    return f"{m.model}-{m.mode}-{m.precision}-{m.variant}_{m.metric}"


def check_names(measurements: Sequence[Measured]) -> None:
    """Raise ValueError naming the first field longer than its column."""
    for i, m in enumerate(measurements):
        for name, limit in NAME_LIMITS.items():
            if len(getattr(m, name)) > limit:
                raise ValueError(f"results[{i}].{name}: longer than {limit} characters")


def detectable(samples: Sequence[float]) -> bool:
    """Change detection works on ratios: it needs strictly positive, finite samples."""
    return all(v > 0 and math.isfinite(v) for v in samples)


def followed_series(measured: Sequence[Measured]) -> list[str]:
    """The series change detection follows for a job: its primary metrics (all of them when
    none is marked primary: a small project's own suite), each with samples the detector
    can use. The others (p90 beside p50, memory, accuracy) are stored and charted only."""
    any_primary = any(m.primary for m in measured)
    return sorted(series_name(m) for m in measured if (m.primary or not any_primary) and detectable(m.samples))


def summary_stats(samples: Sequence[float]) -> dict[str, float | int]:
    """n, median, mean, sample standard deviation, p90 and p99 of raw samples."""
    values = np.asarray(samples, dtype=float)
    return {
        "n": int(values.size),
        "median": float(np.median(values)),
        "mean": float(values.mean()),
        "stdev": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        "p90": float(np.percentile(values, 90)),
        "p99": float(np.percentile(values, 99)),
    }


def benchmark_ids(session: Session, measurements: Sequence[Measured]) -> dict[BenchmarkKey, int]:
    """Ids of the benchmarks named by ``measurements``, creating the missing ones.

    ON CONFLICT DO NOTHING: two jobs finishing at once may both create a benchmark; neither
    fails, and both read the one row that won.
    """
    if not measurements:
        return {}
    rows = [
        {"model": m.model, "mode": m.mode, "precision": m.precision, "variant": m.variant, "metric": m.metric,
         "unit": m.unit, "direction": Direction(m.direction).value, "family": m.family[:NAME_LIMITS["family"]]}
        for m in measurements
    ]
    session.execute(dialect_insert(session, Benchmark).values(rows).on_conflict_do_nothing())
    wanted = {benchmark_key(m) for m in measurements}
    found: dict[BenchmarkKey, int] = {}
    rows_found = session.execute(
        select(Benchmark.id, Benchmark.model, Benchmark.mode, Benchmark.precision, Benchmark.variant, Benchmark.metric)
        .where(Benchmark.model.in_(sorted({m.model for m in measurements})))
    )
    for bench_id, *key in rows_found:
        if tuple(key) in wanted:
            found[tuple(key)] = bench_id  # type: ignore[index]
    return found


def store_results(session: Session, job: Job, measurements: Sequence[Measured]) -> list[Result]:
    """Add one result per measurement to ``job`` (a job that has a host), in order."""
    if job.host_id is None:
        raise ValueError(f"job {job.id} has no host; results belong to the host that measured them")
    ids = benchmark_ids(session, measurements)
    repository_id = job.commit.repository_id
    results = [
        Result(
            job_id=job.id, benchmark_id=ids[benchmark_key(m)], repository_id=repository_id,
            commit_id=job.commit_id, host_id=job.host_id, samples=[float(v) for v in m.samples],
            **summary_stats(m.samples),
        )
        for m in measurements
    ]
    session.add_all(results)
    session.flush()
    return results
