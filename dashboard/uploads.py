"""Storing a results file uploaded by an external runner (``POST /api/v1/results``).

The file is validated by :func:`benchmarks.results.load_results` before anything is written;
then one finished job records who measured what, and one result per measured metric is added in
the same transaction, so a rejected or failed upload leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dashboard.actions import ActionError
from db.base import utcnow
from db.models import Benchmark, Commit, Direction, Host, Job, JobKind, JobStatus, Repository, Result

# Column widths of the benchmark table: a longer name is refused, not truncated.
_LIMITS = {"model": 100, "mode": 20, "precision": 20, "variant": 50, "metric": 50, "unit": 20, "family": 50}
MAX_HOST_NAME = 100


@dataclass(frozen=True)
class Upload:
    repository: str
    sha: str
    host: str
    suite: str


def _stats(samples: Sequence[float]) -> dict[str, Any]:
    values = np.asarray(samples, dtype=float)
    return {
        "n": int(values.size),
        "median": float(np.median(values)),
        "mean": float(values.mean()),
        "stdev": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        "p90": float(np.percentile(values, 90)),
        "p99": float(np.percentile(values, 99)),
    }


def _benchmark_ids(session: Session, rows: list[dict[str, Any]]) -> dict[tuple[str, ...], int]:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(Benchmark).values(rows).on_conflict_do_nothing())
    key = lambda b: (b.model, b.mode, b.precision, b.variant, b.metric)  # noqa: E731
    models = sorted({r["model"] for r in rows})
    return {key(b): b.id for b in session.scalars(select(Benchmark).where(Benchmark.model.in_(models)))}


def store_upload(session: Session, upload: Upload, results: Any) -> tuple[int, int]:
    """Record ``results`` (a validated ``ResultsFile``); return (job id, results stored)."""
    repository = session.scalars(select(Repository).where(Repository.full_name == upload.repository.lower())).one_or_none()
    if repository is None:
        raise ActionError(404, f"repository {upload.repository!r} is not registered")
    commit = session.scalars(
        select(Commit).where(Commit.repository_id == repository.id, Commit.sha == upload.sha)
    ).one_or_none()
    if commit is None:
        raise ActionError(404, f"commit {upload.sha} of {repository.full_name} is not known; push it first")
    measured = [r for r in results.results if r.status == "ok"]
    if not measured:
        raise ActionError(400, "results: no entry has status ok; nothing to store")
    for i, r in enumerate(measured):
        for name, limit in _LIMITS.items():
            if len(getattr(r, name)) > limit:
                raise ActionError(400, f"results[{i}].{name}: longer than {limit} characters")
    env = results.environ
    host = session.scalars(select(Host).where(Host.name == upload.host)).one_or_none()
    if host is None:
        host = Host(name=upload.host, cpu_model=str(env.get("cpu_model", ""))[:255],
                    torch_version=str(env.get("torch_version", ""))[:50])
        session.add(host)
    host.last_seen = utcnow()
    session.flush()
    now = utcnow()
    job = Job(commit_id=commit.id, suite=upload.suite, kind=JobKind.REGULAR, status=JobStatus.SUCCEEDED,
              queue=host.queue, host_id=host.id, params={"uploaded": True}, attempts=1,
              started_at=now, finished_at=now, command=" ".join(measured[0].command) or None)
    session.add(job)
    session.flush()
    ids = _benchmark_ids(session, [
        {"model": r.model, "mode": r.mode, "precision": r.precision, "variant": r.variant, "metric": r.metric,
         "unit": r.unit, "direction": Direction(r.direction).value, "family": r.family}
        for r in measured
    ])
    for r in measured:
        session.add(Result(
            job_id=job.id, benchmark_id=ids[(r.model, r.mode, r.precision, r.variant, r.metric)],
            repository_id=repository.id, commit_id=commit.id, host_id=host.id,
            samples=list(r.samples), **_stats(r.samples),
        ))
    session.flush()
    return job.id, len(measured)
