"""A commit's results and jobs, for the commit page and the comparison of two commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Benchmark, Commit, Host, Job, Result


@dataclass(frozen=True)
class CommitResult:
    result_id: int
    job_id: int
    benchmark: Benchmark
    host: Host
    samples: list[float]
    median: float
    verdict: str | None
    change_pct: float | None
    confidence: float | None

    @property
    def key(self) -> tuple[int, int]:
        """Results of two commits are compared per (benchmark, host)."""
        return (self.benchmark.id, self.host.id)


@dataclass(frozen=True)
class CommitJob:
    id: int
    suite: str
    kind: str
    status: str
    host: Host | None
    attempts: int
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    log_tail: str | None
    command: str | None


def parent_commit(session: Session, commit: Commit) -> Commit | None:
    """The first parent, when the store knows it."""
    if not commit.parents:
        return None
    return session.scalars(
        select(Commit).where(Commit.repository_id == commit.repository_id, Commit.sha == commit.parents[0])
    ).one_or_none()


def commit_results(session: Session, commit_id: int) -> list[CommitResult]:
    """The newest result of each (benchmark, host) measured at the commit."""
    rows = session.execute(
        select(Result, Benchmark, Host)
        .join(Benchmark, Benchmark.id == Result.benchmark_id)
        .join(Host, Host.id == Result.host_id)
        .where(Result.commit_id == commit_id)
        .order_by(Benchmark.family, Benchmark.model, Benchmark.mode, Benchmark.precision, Benchmark.variant,
                  Benchmark.metric, Host.name, Result.id.desc())
    )
    seen: set[tuple[int, int]] = set()
    out: list[CommitResult] = []
    for result, benchmark, host in rows:
        if (benchmark.id, host.id) in seen:
            continue
        seen.add((benchmark.id, host.id))
        out.append(
            CommitResult(
                result_id=result.id, job_id=result.job_id, benchmark=benchmark, host=host,
                samples=[float(s) for s in (result.samples or [])], median=result.median,
                verdict=result.verdict.value if result.verdict is not None else None,
                change_pct=result.change_pct, confidence=result.confidence,
            )
        )
    return out


def commit_jobs(session: Session, commit_id: int) -> list[CommitJob]:
    rows = session.execute(
        select(Job, Host).outerjoin(Host, Host.id == Job.host_id).where(Job.commit_id == commit_id).order_by(Job.id)
    )
    return [
        CommitJob(
            id=job.id, suite=job.suite, kind=job.kind.value, status=job.status.value, host=host,
            attempts=job.attempts, queued_at=job.queued_at, started_at=job.started_at,
            finished_at=job.finished_at, error=job.error, log_tail=job.log_tail, command=job.command,
        )
        for job, host in rows
    ]
