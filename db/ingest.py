"""Recording commits, pushes and the jobs they need: the one write path shared by the webhook,
backfill and the demo.

Everything here runs inside the caller's transaction and is idempotent: a commit already
known is reused, and a job whose ``dedup_key`` exists is not created again, so a repeated
webhook delivery or a backfill run twice adds nothing. Publishing to the broker is the caller's
job, after the transaction commits (the outbox pattern, see ``db.models.job``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import dialect_insert, utcnow
from db.models import Commit, Job, JobKind, Push, PushCommit, Repository

AUTHOR_MAX = Commit.__table__.c.author.type.length

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
ANY_QUEUE = "bench.any"


class IngestError(ValueError):
    """Input that cannot be recorded (a malformed sha, an unknown repository)."""


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    parents: Sequence[str] = ()
    author: str = ""
    message: str = ""
    committed_at: datetime | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if not SHA_RE.match(self.sha):
            raise IngestError(f"commit sha must be 40 lowercase hex characters, got {self.sha[:60]!r}")
        for parent in self.parents:
            if not SHA_RE.match(parent):
                raise IngestError(f"parent sha of {self.sha} must be 40 lowercase hex characters, got {parent[:60]!r}")


@dataclass(frozen=True)
class NewJob:
    id: int
    queue: str


@dataclass
class PushRecord:
    push: Push
    commits: list[Commit]
    new_jobs: list[NewJob] = field(default_factory=list)


def regular_job_key(commit_id: int, suite: str, queue: str) -> str:
    return f"regular:{commit_id}:{suite}:{queue}"


def get_repository(session: Session, full_name: str) -> Repository | None:
    return session.scalars(select(Repository).where(Repository.full_name == full_name.lower())).one_or_none()


def upsert_commits(session: Session, repository: Repository, infos: Sequence[CommitInfo]) -> list[Commit]:
    """Insert the commits not yet known (concurrency-safe) and return all of them in order."""
    if not infos:
        return []
    rows = [
        {
            "repository_id": repository.id,
            "sha": info.sha,
            "parents": list(info.parents),
            "author": info.author[:AUTHOR_MAX],
            "message": info.message,
            "committed_at": info.committed_at,
            "url": info.url,
        }
        for info in infos
    ]
    # ON CONFLICT DO NOTHING: two deliveries carrying the same commit may race; neither fails.
    # One statement executed with a list of rows: compiled once and cached, batched by the driver.
    session.execute(dialect_insert(session, Commit).on_conflict_do_nothing(), rows)
    shas = [info.sha for info in infos]
    found = {
        c.sha: c
        for c in session.scalars(
            select(Commit).where(Commit.repository_id == repository.id, Commit.sha.in_(shas))
        )
    }
    return [found[sha] for sha in shas]


def queue_job(
    session: Session,
    commit: Commit,
    suite: str,
    *,
    kind: JobKind = JobKind.REGULAR,
    queue: str = ANY_QUEUE,
    dedup_key: str | None = None,
    params: dict | None = None,
    priority: int = 0,
) -> Job | None:
    """Add a queued job unless one with ``dedup_key`` exists; return the new job or None."""
    if dedup_key is not None:
        exists = session.scalars(select(Job.id).where(Job.dedup_key == dedup_key)).first()
        if exists is not None:
            return None
    job = Job(
        commit_id=commit.id,
        suite=suite,
        kind=kind,
        queue=queue,
        dedup_key=dedup_key,
        params=params or {},
        priority=priority,
    )
    session.add(job)
    session.flush()
    return job


def record_push(
    session: Session,
    repository: Repository,
    *,
    branch: str,
    commits: Sequence[CommitInfo],
    source: str,
    suites: Sequence[str],
    before_sha: str | None = None,
    delivery_id: str | None = None,
    pull_number: int | None = None,
    queue: str = ANY_QUEUE,
) -> PushRecord:
    """Record a push of ``commits`` (oldest first) and queue one job per commit per suite."""
    if not commits:
        raise IngestError("a push must carry at least one commit")
    stored = upsert_commits(session, repository, commits)
    push = Push(
        repository_id=repository.id,
        branch=branch,
        before_sha=before_sha,
        after_sha=stored[-1].sha,
        source=source,
        delivery_id=delivery_id,
        pull_number=pull_number,
    )
    session.add(push)
    session.flush()
    session.execute(dialect_insert(session, PushCommit).on_conflict_do_nothing(),
                    [{"push_id": push.id, "commit_id": c.id, "position": i} for i, c in enumerate(stored)])
    record = PushRecord(push=push, commits=stored)
    rows = [
        {"commit_id": commit.id, "suite": suite, "kind": JobKind.REGULAR.value, "status": "queued", "queue": queue,
         "dedup_key": regular_job_key(commit.id, suite, queue), "params": {}, "priority": 0, "attempts": 0,
         "queued_at": utcnow()}
        for commit in stored
        for suite in suites
    ]
    # A job whose dedup key exists (the commit was pushed before) is skipped, race-free.
    statement = dialect_insert(session, Job).on_conflict_do_nothing(index_elements=["dedup_key"])
    for start in range(0, len(rows), 1000):
        batch = rows[start : start + 1000]
        new = session.execute(statement.returning(Job.__table__.c.id, Job.__table__.c.queue), batch).all()
        record.new_jobs.extend(NewJob(id=row[0], queue=row[1]) for row in new)
    record.new_jobs.sort(key=lambda j: j.id)
    return record
