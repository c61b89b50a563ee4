"""Writing validated measurements: benchmark rows (shared, created once) and one result per
(job, benchmark), which the store's unique constraint guarantees even if a write were repeated."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from db.models import Benchmark, Direction, Job, Result
from worker.results_reader import Measurement, summary_stats


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def benchmark_ids(session: Session, measurements: Sequence[Measurement]) -> dict[str, int]:
    """Ids of the benchmarks named by ``measurements``, creating the missing ones (race-safe)."""
    if not measurements:
        return {}
    rows = [
        {"model": m.model, "mode": m.mode, "precision": m.precision, "variant": m.variant, "metric": m.metric,
         "unit": m.unit, "direction": Direction(m.direction).value, "family": m.family[:50]}
        for m in measurements
    ]
    session.execute(_insert(session)(Benchmark).values(rows).on_conflict_do_nothing())
    wanted = {m.name for m in measurements}
    found: dict[str, int] = {}
    models = sorted({m.model for m in measurements})
    for bench in session.scalars(select(Benchmark).where(Benchmark.model.in_(models))):
        if bench.name in wanted:
            found[bench.name] = bench.id
    return found


def store_measurements(session: Session, job: Job, measurements: Sequence[Measurement]) -> list[Result]:
    """Add one result per measurement for ``job`` (already claimed and finishing)."""
    assert job.host_id is not None, "a finishing job has a host"
    ids = benchmark_ids(session, measurements)
    results = []
    for m in measurements:
        stats = summary_stats(m.samples)
        result = Result(
            job_id=job.id,
            benchmark_id=ids[m.name],
            repository_id=job.commit.repository_id,
            commit_id=job.commit_id,
            host_id=job.host_id,
            samples=list(m.samples),
            **stats,
        )
        session.add(result)
        results.append(result)
    session.flush()
    return results
