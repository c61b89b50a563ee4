"""Benchmark hosts with what they are doing and how much waits for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.ingest import ANY_QUEUE
from db.models import Commit, Host, Job, JobStatus


@dataclass(frozen=True)
class HostView:
    id: int
    name: str
    cpu_model: str
    isa: list[str]
    cores: str
    numa_node: int | None
    threads: int
    torch_version: str
    kernel: str
    governor: str | None
    last_seen: datetime
    current_job_id: int | None
    current_job_sha: str | None
    queue: str
    queue_depth: int  # jobs waiting for this host only
    shared_depth: int  # jobs any host may take


def list_hosts(session: Session) -> list[HostView]:
    depth = dict(
        session.execute(
            select(Job.queue, func.count()).where(Job.status == JobStatus.QUEUED).group_by(Job.queue)
        ).all()
    )
    hosts = list(session.scalars(select(Host).order_by(Host.name)))
    job_ids = [h.current_job_id for h in hosts if h.current_job_id is not None]
    current: dict[int, str] = {}
    if job_ids:
        current = dict(
            session.execute(
                select(Job.id, Commit.sha)
                .join(Commit, Commit.id == Job.commit_id)
                .where(Job.id.in_(job_ids), Job.status == JobStatus.RUNNING)
            ).all()
        )
    return [
        HostView(
            id=h.id, name=h.name, cpu_model=h.cpu_model, isa=list(h.isa or []), cores=h.cores, numa_node=h.numa_node,
            threads=h.threads, torch_version=h.torch_version, kernel=h.kernel, governor=h.governor,
            last_seen=h.last_seen,
            current_job_id=h.current_job_id if h.current_job_id in current else None,
            current_job_sha=current.get(h.current_job_id) if h.current_job_id is not None else None,
            queue=h.queue, queue_depth=depth.get(h.queue, 0), shared_depth=depth.get(ANY_QUEUE, 0),
        )
        for h in hosts
    ]
