"""A job's life in the store: claim, finish, and recovery when its worker died. The retry
policy lives here and nowhere else.

Every transition is a compare-and-set ``UPDATE ... WHERE status = ...``, so it is correct on
SQLite and PostgreSQL alike and under any number of workers and redelivered messages:

- **claim**: ``queued -> running`` and ``attempts += 1``. Only one claimant wins; a second
  message for the same job finds it running or finished and does nothing.
- **finish**: ``running -> succeeded | failed`` only if the row is still the claimant's
  (same host, same attempt number). A worker that was presumed dead and replaced cannot
  overwrite its successor's work: its late results are discarded.
- **recover**: a job left ``running`` by a dead worker goes back to ``queued`` while it has
  attempts left, else to ``failed`` with the reason. A worker is known dead when it is the
  same host starting again (one job per host at a time) or when its host stopped reporting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Host, Job, JobStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """What a worker holds while it runs a job; ``attempt`` fences its final write."""

    job_id: int
    host_id: int
    attempt: int


def claim(session: Session, job_id: int, host_id: int, fingerprint: str, max_attempts: int) -> Claim | None:
    """Take a queued job for ``host_id``; None when it is not ours to run (any more)."""
    # This host runs one job at a time and is about to start this one: anything still marked
    # running here (this very job included, if its previous run was killed) was orphaned.
    recover_host(session, host_id, max_attempts)
    now = utcnow()
    won = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED, Job.attempts < max_attempts)
        .values(status=JobStatus.RUNNING, host_id=host_id, attempts=Job.attempts + 1, started_at=now,
                finished_at=None, error=None, host_fingerprint=fingerprint)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        job = session.get(Job, job_id)
        if job is None:
            log.warning("job %s does not exist; message dropped", job_id)
        elif job.status == JobStatus.QUEUED:  # out of attempts
            _give_up(session, job, f"no attempts left ({job.attempts} of {max_attempts} used)")
        else:
            log.info("job %s is %s; this delivery has nothing to do", job_id, job.status.value)
        return None
    attempt = session.scalar(select(Job.attempts).where(Job.id == job_id))
    session.execute(update(Host).where(Host.id == host_id).values(current_job_id=job_id, last_seen=now))
    return Claim(job_id=job_id, host_id=host_id, attempt=int(attempt))


def finish(session: Session, held: Claim, status: JobStatus, *, error: str | None = None,
           log_tail: str | None = None, command: str | None = None, summary: dict | None = None) -> bool:
    """Close a claimed job; False (and nothing written) if the claim was lost meanwhile."""
    assert status.finished, status
    done = session.execute(
        update(Job)
        .where(Job.id == held.job_id, Job.status == JobStatus.RUNNING, Job.host_id == held.host_id,
               Job.attempts == held.attempt)
        .values(status=status, finished_at=utcnow(), error=error, log_tail=log_tail, command=command,
                summary=summary)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.execute(
        update(Host).where(Host.id == held.host_id, Host.current_job_id == held.job_id).values(current_job_id=None)
    )
    return done == 1


def requeue(session: Session, held: Claim, reason: str, max_attempts: int) -> bool:
    """Give a claimed job back (a transient failure such as an unreachable git server)."""
    job = session.get(Job, held.job_id)
    if job is None or job.status != JobStatus.RUNNING or job.attempts != held.attempt or job.host_id != held.host_id:
        return False
    _release(session, job, reason, max_attempts)
    session.execute(
        update(Host).where(Host.id == held.host_id, Host.current_job_id == held.job_id).values(current_job_id=None)
    )
    return True


def _release(session: Session, job: Job, reason: str, max_attempts: int) -> None:
    if job.attempts >= max_attempts:
        _give_up(session, job, f"{reason}; gave up after {job.attempts} of {max_attempts} attempts")
        return
    job.status = JobStatus.QUEUED
    job.error = f"attempt {job.attempts} of {max_attempts}: {reason}"
    job.published_at = None  # the sweeper (or the caller) sends a new message
    job.started_at = None
    log.warning("job %s back in the queue: %s", job.id, job.error)


def _give_up(session: Session, job: Job, reason: str) -> None:
    job.status = JobStatus.FAILED
    job.error = reason
    job.finished_at = utcnow()
    log.error("job %s failed: %s", job.id, reason)


def recover_host(session: Session, host_id: int, max_attempts: int) -> list[int]:
    """Release jobs still marked running on ``host_id``: this host runs one job at a time, so
    when it starts (or starts another job) any other running job of its was orphaned."""
    query = select(Job).where(Job.status == JobStatus.RUNNING, Job.host_id == host_id).with_for_update()
    released = []
    for job in session.scalars(query):
        _release(session, job, "the worker stopped during the job (killed or crashed)", max_attempts)
        released.append(job.id)
    if released:
        session.execute(update(Host).where(Host.id == host_id).values(current_job_id=None))
    return released


def recover_silent_hosts(session: Session, lease: timedelta, max_attempts: int,
                         now: datetime | None = None) -> list[int]:
    """Release running jobs whose host has not reported for longer than ``lease``."""
    cutoff = (now or utcnow()) - lease
    stale_hosts = select(Host.id).where(Host.last_seen < cutoff)
    query = (
        select(Job)
        .where(Job.status == JobStatus.RUNNING, Job.host_id.in_(stale_hosts))
        .with_for_update()
    )
    released = []
    for job in session.scalars(query):
        _release(session, job, f"its host stopped reporting for more than {int(lease.total_seconds())} s", max_attempts)
        released.append(job.id)
    return released


def fail_running(session: Session, job_id: int, host_id: int | None, reason: str) -> bool:
    """Mark a running job failed from outside its pool process (the hard time limit killed it)."""
    query = update(Job).where(Job.id == job_id, Job.status == JobStatus.RUNNING)
    if host_id is not None:
        query = query.where(Job.host_id == host_id)
    done = session.execute(
        query.values(status=JobStatus.FAILED, error=reason, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if done and host_id is not None:
        session.execute(update(Host).where(Host.id == host_id, Host.current_job_id == job_id).values(current_job_id=None))
    return done == 1


def heartbeat(session: Session, host_id: int) -> None:
    session.execute(update(Host).where(Host.id == host_id).values(last_seen=utcnow()))
