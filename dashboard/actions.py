"""The dashboard's writes: alert triage and re-running a job.

Each runs inside the caller's transaction; the caller publishes any new job after commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.ingest import queue_job
from db.models import Alert, AlertGroup, AlertState, Job, JobStatus

MAX_ASSIGNEE = 100
MAX_NOTES = 10_000


class ActionError(ValueError):
    """A write that cannot be done; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Triage:
    state: AlertState | None = None
    assignee: str | None = None  # "" clears it
    notes: str | None = None

    def __post_init__(self) -> None:
        if self.state is None and self.assignee is None and self.notes is None:
            raise ValueError("nothing to change; give at least one of state, assignee, notes")
        if self.assignee is not None and len(self.assignee) > MAX_ASSIGNEE:
            raise ValueError(f"assignee is longer than {MAX_ASSIGNEE} characters")
        if self.notes is not None and len(self.notes) > MAX_NOTES:
            raise ValueError(f"notes are longer than {MAX_NOTES} characters")


def triage_group(session: Session, group_id: int, change: Triage, who: str) -> AlertGroup:
    """Change a group; a new state applies to every alert in it (they blame the same commit)."""
    group = session.get(AlertGroup, group_id)
    if group is None:
        raise ActionError(404, f"alert group {group_id} does not exist")
    alerts = list(session.scalars(select(Alert).where(Alert.group_id == group_id)))
    if change.state is not None:
        group.state = change.state
        for alert in alerts:
            alert.state = change.state
            alert.updated_by = who
    if change.assignee is not None:
        group.assignee = change.assignee or None
        for alert in alerts:
            alert.assignee = change.assignee or None
    if change.notes is not None:
        group.notes = change.notes
    session.flush()
    return group


def triage_alert(session: Session, alert_id: int, change: Triage, who: str) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise ActionError(404, f"alert {alert_id} does not exist")
    if change.state is not None:
        alert.state = change.state
    if change.assignee is not None:
        alert.assignee = change.assignee or None
    if change.notes is not None:
        alert.notes = change.notes
    alert.updated_by = who
    session.flush()
    return alert


def rerun_job(session: Session, job_id: int) -> Job:
    """Queue a copy of a finished job (same commit, suite, kind, queue, parameters).

    The copy has no dedup key: a re-run is asked for on purpose and may repeat.
    """
    job = session.get(Job, job_id)
    if job is None:
        raise ActionError(404, f"job {job_id} does not exist")
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        raise ActionError(409, f"job {job_id} is {job.status.value}; only a finished job can be re-run")
    new = queue_job(
        session, job.commit, job.suite, kind=job.kind, queue=job.queue, dedup_key=None,
        params={**(job.params or {}), "rerun_of": job.id}, priority=job.priority,
    )
    assert new is not None  # no dedup key: always created
    return new
