"""One series: a benchmark's results on one host, over the commits of a branch.

The points carry their raw samples (the chart shows their spread); the baseline variant of the
same model, mode, precision and metric is fetched alongside, because a change in the optimized
path but not in the baseline points at its cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

from db.models import Alert, Benchmark, Commit, Host, Repository, Result
from db.queries.common import id_list
from db.queries.hud import branch_commit_ids

BASELINE_VARIANT = "eager"
DEFAULT_POINTS = 500


@dataclass(frozen=True)
class SeriesPoint:
    commit_id: int
    sha: str
    title: str
    committed_at: datetime | None
    samples: list[float]
    median: float
    verdict: str | None
    change_pct: float | None
    confidence: float | None


@dataclass(frozen=True)
class SeriesAlert:
    alert_id: int
    group_id: int
    sha: str
    direction: str
    state: str
    change_pct: float
    confidence: float


@dataclass(frozen=True)
class Series:
    repository: Repository
    benchmark: Benchmark
    host: Host
    branch: str
    points: list[SeriesPoint]
    baseline: Benchmark | None
    baseline_points: list[SeriesPoint]
    alerts: list[SeriesAlert]


def baseline_of(session: Session, benchmark: Benchmark) -> Benchmark | None:
    """The stock (baseline) variant measured with ``benchmark``, if it is not itself the baseline."""
    if benchmark.variant == BASELINE_VARIANT:
        return None
    return session.scalars(
        select(Benchmark).where(
            Benchmark.model == benchmark.model,
            Benchmark.mode == benchmark.mode,
            Benchmark.precision == benchmark.precision,
            Benchmark.variant == BASELINE_VARIANT,
            Benchmark.metric == benchmark.metric,
        )
    ).one_or_none()


def _points(
    session: Session, repository_id: int, benchmark_id: int, host_id: int, branch: str, limit: int
) -> list[SeriesPoint]:
    # Two steps, so that only the rows shown are read: the newest ``limit`` commits of the
    # branch with a result in the series (the series index alone answers which commits have
    # one), then those commits' results with their raw samples. One query ordering all the
    # series' results by commit time reads every row and its samples to keep the newest few.
    in_series = (Result.repository_id == repository_id, Result.benchmark_id == benchmark_id,
                 Result.host_id == host_id)
    commit_ids = list(session.scalars(
        select(Commit.id)
        .where(Commit.id.in_(select(Result.commit_id).where(*in_series)),
               Commit.id.in_(branch_commit_ids(repository_id, branch)))
        .order_by(Commit.committed_at.desc().nulls_last(), Commit.id.desc())
        .limit(limit)
    ))
    if not commit_ids:
        return []
    rows = session.connection().execute(
        select(
            Result.id, Result.commit_id, Commit.sha, Commit.message, Commit.committed_at, Result.samples,
            Result.median, type_coerce(Result.verdict, String).label("verdict"), Result.change_pct,
            Result.confidence,
        )
        .join(Commit, Commit.id == Result.commit_id)
        .where(*in_series, Result.commit_id.in_(id_list(commit_ids)))
        .order_by(Commit.committed_at.desc().nulls_last(), Commit.id.desc(), Result.id.desc())
    )
    by_commit: dict[int, SeriesPoint] = {}
    for r in rows:
        if r.commit_id in by_commit:
            continue  # a re-run of the commit: the newest result (largest id) came first
        by_commit[r.commit_id] = SeriesPoint(
            commit_id=r.commit_id,
            sha=r.sha,
            title=(r.message or "").split("\n", 1)[0],
            committed_at=r.committed_at,
            samples=[float(s) for s in (r.samples or [])],
            median=r.median,
            verdict=r.verdict,
            change_pct=r.change_pct,
            confidence=r.confidence,
        )
    return list(reversed(by_commit.values()))


def load_series(
    session: Session,
    repository: Repository,
    benchmark: Benchmark,
    host: Host,
    *,
    branch: str | None = None,
    limit: int = DEFAULT_POINTS,
) -> Series:
    """The newest ``limit`` points of the series, oldest first, with its baseline and alerts."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    branch = branch or repository.default_branch
    points = _points(session, repository.id, benchmark.id, host.id, branch, limit)
    baseline = baseline_of(session, benchmark)
    baseline_points = _points(session, repository.id, baseline.id, host.id, branch, limit) if baseline else []
    alert_rows = session.execute(
        select(Alert.id, Alert.group_id, Commit.sha, Alert.direction, Alert.state, Alert.change_pct, Alert.confidence)
        .join(Commit, Commit.id == Alert.suspect_commit_id)
        .where(Alert.repository_id == repository.id, Alert.benchmark_id == benchmark.id, Alert.host_id == host.id)
        .order_by(Alert.id)
    )
    alerts = [
        SeriesAlert(
            alert_id=a.id, group_id=a.group_id, sha=a.sha, direction=a.direction.value, state=a.state.value,
            change_pct=a.change_pct, confidence=a.confidence,
        )
        for a in alert_rows
    ]
    return Series(
        repository=repository, benchmark=benchmark, host=host, branch=branch, points=points,
        baseline=baseline, baseline_points=baseline_points, alerts=alerts,
    )
