"""Alert groups for triage: one row per suspect commit, with the series it moved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Alert, AlertGroup, AlertState, Benchmark, Commit, Host, Repository
from db.queries.common import Page


@dataclass(frozen=True)
class AlertView:
    id: int
    benchmark_id: int
    benchmark_name: str
    host_id: int
    host_name: str
    direction: str
    change_pct: float
    confidence: float
    state: str
    last_good_sha: str | None


@dataclass(frozen=True)
class AlertGroupView:
    id: int
    repository: str
    suspect_sha: str
    suspect_title: str
    push_id: int | None
    state: str
    assignee: str | None
    notes: str
    created_at: datetime
    updated_at: datetime
    alerts: list[AlertView]

    @property
    def regressions(self) -> int:
        return sum(1 for a in self.alerts if a.direction == "regression")

    @property
    def improvements(self) -> int:
        return sum(1 for a in self.alerts if a.direction == "improvement")


def parse_state(raw: str) -> AlertState:
    try:
        return AlertState(raw)
    except ValueError:
        allowed = ", ".join(s.value for s in AlertState)
        raise ValueError(f"unknown alert state {raw!r}; allowed: {allowed}") from None


def list_alert_groups(
    session: Session,
    *,
    repository_id: int | None = None,
    state: AlertState | None = None,
    page: Page = Page(),
    group_id: int | None = None,
) -> tuple[list[AlertGroupView], int]:
    """A page of alert groups, newest first, and how many match in all."""
    where = []
    if repository_id is not None:
        where.append(AlertGroup.repository_id == repository_id)
    if state is not None:
        where.append(AlertGroup.state == state)
    if group_id is not None:
        where.append(AlertGroup.id == group_id)
    total = session.scalar(select(func.count()).select_from(AlertGroup).where(*where)) or 0
    groups = session.execute(
        select(AlertGroup, Commit.sha, Commit.message, Repository.full_name)
        .join(Commit, Commit.id == AlertGroup.suspect_commit_id)
        .join(Repository, Repository.id == AlertGroup.repository_id)
        .where(*where)
        .order_by(AlertGroup.created_at.desc(), AlertGroup.id.desc())
        .offset(page.offset)
        .limit(page.size)
    ).all()
    group_ids = [g.id for g, *_ in groups]
    alerts_by_group: dict[int, list[AlertView]] = {gid: [] for gid in group_ids}
    if group_ids:
        last_good = Commit.__table__.alias("last_good")
        rows = session.execute(
            select(Alert, Benchmark, Host.name, last_good.c.sha)
            .join(Benchmark, Benchmark.id == Alert.benchmark_id)
            .join(Host, Host.id == Alert.host_id)
            .outerjoin(last_good, last_good.c.id == Alert.last_good_commit_id)
            .where(Alert.group_id.in_(group_ids))
            .order_by(Alert.group_id, Alert.id)
        )
        for alert, benchmark, host_name, last_good_sha in rows:
            alerts_by_group[alert.group_id].append(
                AlertView(
                    id=alert.id, benchmark_id=benchmark.id, benchmark_name=benchmark.name, host_id=alert.host_id,
                    host_name=host_name, direction=alert.direction.value, change_pct=alert.change_pct,
                    confidence=alert.confidence, state=alert.state.value, last_good_sha=last_good_sha,
                )
            )
    views = [
        AlertGroupView(
            id=g.id, repository=full_name, suspect_sha=sha, suspect_title=(message or "").split("\n", 1)[0],
            push_id=g.push_id, state=g.state.value, assignee=g.assignee, notes=g.notes or "",
            created_at=g.created_at, updated_at=g.updated_at, alerts=alerts_by_group[g.id],
        )
        for g, sha, message, full_name in groups
    ]
    return views, total
