"""Backfill: benchmark commits a repository already has, oldest first.

The commits come from the repository itself (fetched into the worker cache), are recorded
through the same write path as a webhook push (``db.ingest.record_push``, source "backfill"),
and their jobs are published after the transaction commits. Running it twice adds nothing:
commits and jobs are deduplicated by the store.
"""

from __future__ import annotations

from db.ingest import CommitInfo, IngestError, get_repository, record_push
from db.session import run_in_transaction
from perfhud.settings import Settings
from worker.gitrepo import cache_dir, describe_commits, fetch, list_commits, validate_ref
from worker.publish import publish_jobs
from worker.repos import validate_full_name
from worker.store_access import session_factory

MAX_BACKFILL = 5000


def backfill(
    settings: Settings,
    full_name: str,
    *,
    last: int | None = None,
    rev_range: str | None = None,
    branch: str | None = None,
) -> list[int]:
    """Queue jobs for the last ``last`` commits of ``branch`` (or ``rev_range`` ``A..B``).

    Returns the ids of the jobs created (oldest commit first), already published; a second
    run over the same commits returns an empty list.
    """
    if (last is None) == (rev_range is None):
        raise ValueError("give exactly one of --last N or --range A..B")
    if last is not None and not 0 < last <= MAX_BACKFILL:
        raise ValueError(f"--last must be between 1 and {MAX_BACKFILL}, got {last}")
    name = validate_full_name(full_name)
    factory = session_factory(settings.database_url)

    def find(session):  # type: ignore[no-untyped-def]
        repo = get_repository(session, name)
        if repo is None:
            raise IngestError(f"repository {name} is not registered; add it with `perfhud repo add`")
        return repo.id, repo.clone_url, repo.default_branch

    repo_id, clone_url, default_branch = run_in_transaction(factory, find)
    ref = validate_ref(branch or default_branch)
    git_dir = cache_dir(settings.data_dir, repo_id)
    fetch(git_dir, clone_url)
    shas = list_commits(git_dir, branch=ref, last=last, rev_range=rev_range)
    if not shas:
        return []
    if len(shas) > MAX_BACKFILL:
        raise ValueError(f"the range holds {len(shas)} commits; at most {MAX_BACKFILL} per backfill")
    infos = [
        CommitInfo(sha=c.sha, parents=c.parents, author=c.author, message=c.message, committed_at=c.committed_at)
        for c in describe_commits(git_dir, shas)
    ]

    def record(session) -> list[int]:  # type: ignore[no-untyped-def]
        repo = get_repository(session, name)
        pushed = record_push(session, repo, branch=ref, commits=infos, source="backfill", suites=settings.suites)
        return [job.id for job in pushed.new_jobs]

    job_ids = run_in_transaction(factory, record)
    publish_jobs(settings, job_ids)
    return job_ids
