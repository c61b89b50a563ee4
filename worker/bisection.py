"""Bisection: when a suspect change spans commits that were never measured, measure the middle
one on the same host. Its result joins the series as an ordinary point; change detection then
runs again from it and blames either half, which queues the next step, until the suspect's
last good commit is its parent and a confirmation run can decide. Each step is deduplicated
per (commit, host), so a step that cannot be measured ends the search instead of looping.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from db.ingest import CommitInfo, queue_job, upsert_commits
from db.models import Commit, Host, Job, JobKind, Repository
from worker.gitrepo import GitError, cache_dir, describe_commits, list_commits

log = logging.getLogger(__name__)


def middle_commit(between: list[str]) -> str:
    """The commit that halves ``between`` (unmeasured commits, oldest first, suspect excluded)."""
    if not between:
        raise ValueError("nothing to bisect: the suspect's parent was measured")
    return between[(len(between) - 1) // 2]


def queue_bisection_step(session: Session, job: Job, host: Host, suspect: Commit, last_good: Commit,
                         data_dir) -> Job | None:  # type: ignore[no-untyped-def]
    """Queue a measurement of the commit halfway between ``last_good`` and ``suspect``."""
    repository: Repository = suspect.repository
    git_dir = cache_dir(data_dir, repository.id)
    try:
        shas = list_commits(git_dir, branch=repository.default_branch, rev_range=f"{last_good.sha}..{suspect.sha}")
    except GitError as exc:
        log.warning("cannot bisect %s..%s: %s", last_good.sha[:12], suspect.sha[:12], exc)
        return None
    between = [s for s in shas if s != suspect.sha]
    if not between:
        return None
    sha = middle_commit(between)
    info = describe_commits(git_dir, [sha])[0]
    (commit,) = upsert_commits(session, repository, [CommitInfo(
        sha=info.sha, parents=info.parents, author=info.author, message=info.message, committed_at=info.committed_at)])
    log.info("bisecting %s..%s (%d unmeasured): measuring %s", last_good.sha[:12], suspect.sha[:12],
             len(between), sha[:12])
    return queue_job(session, commit, job.suite, kind=JobKind.BISECT, queue=host.queue, priority=5,
                     dedup_key=f"bisect:{commit.id}:{host.id}:{job.suite}:{(job.host_fingerprint or '')[:16]}",
                     params={"suspect_sha": suspect.sha, "last_good_sha": last_good.sha})
