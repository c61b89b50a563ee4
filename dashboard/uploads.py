"""Storing a results file uploaded by an external runner (``POST /api/v1/results``).

The file is validated by :func:`benchmarks.results.load_results` before anything is written;
then one finished job records who measured what, and its results are added through the store's
one write path for results (:func:`db.results.store_results`) in the same transaction, so a
rejected or failed upload leaves nothing behind. Change detection runs after the commit, as it
does for the worker's own jobs (see ``dashboard.api.writes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.actions import ActionError
from db.base import utcnow
from db.models import Commit, Host, Job, JobKind, JobStatus, Repository
from db.results import check_names, followed_series, store_results

MAX_HOST_NAME = 100


@dataclass(frozen=True)
class Upload:
    repository: str
    sha: str
    host: str
    suite: str


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
    try:
        check_names(measured)
    except ValueError as exc:
        raise ActionError(400, str(exc)) from None
    env = results.environ
    host = session.scalars(select(Host).where(Host.name == upload.host)).one_or_none()
    if host is None:
        host = Host(name=upload.host, cpu_model=str(env.get("cpu_model", ""))[:255],
                    torch_version=str(env.get("torch_version", ""))[:50])
        session.add(host)
    host.last_seen = utcnow()
    session.flush()
    now = utcnow()
    job = Job(commit_id=commit.id, commit=commit, suite=upload.suite, kind=JobKind.REGULAR,
              status=JobStatus.SUCCEEDED, queue=host.queue, host_id=host.id, params={"uploaded": True}, attempts=1,
              started_at=now, finished_at=now, command=" ".join(measured[0].command) or None,
              summary={"benchmarks": len(measured), "series": followed_series(measured)})
    session.add(job)
    session.flush()
    store_results(session, job, measured)
    return job.id, len(measured)
