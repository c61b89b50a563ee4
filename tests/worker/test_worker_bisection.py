"""Bisection through a real worker: a change first seen on a commit whose ancestors were never
measured is narrowed down to the commit that made it, then confirmed by a re-run."""

from __future__ import annotations

from sqlalchemy import select

from db.ingest import CommitInfo, get_repository, record_push
from db.models import Alert, Job, JobKind, JobStatus
from db.session import make_engine, make_session_factory, session_scope
from worker.backfill import backfill
from worker.publish import publish_jobs
from worker.repos import add_repository

FAST, SLOW = 60000, 78000


def test_unmeasured_commits_are_bisected_to_the_culprit(stack, git_repo, workers, kit) -> None:
    # Commits 1-5 fast, 6-8 slow; 2-5 are measured, then only the head (8) arrives, as a pull
    # request's head does: the change lies somewhere in 6..8.
    repo_path, shas = git_repo([kit.CommitSpec(work=SLOW if i >= 6 else FAST) for i in range(1, 9)])
    settings = stack.settings
    from db.migrate import upgrade

    upgrade(settings.database_url)
    add_repository(settings, "acme/tiny", str(repo_path))
    assert len(backfill(settings, "acme/tiny", rev_range=f"{shas[0]}..{shas[4]}")) == 4
    factory = make_session_factory(make_engine(settings.database_url))
    with session_scope(factory) as s:
        repo = get_repository(s, "acme/tiny")
        head = record_push(s, repo, branch="pull/1", commits=[CommitInfo(sha=shas[7], parents=[shas[6]])],
                           source="pull_request", suites=settings.suites, pull_number=1)
        head_job = head.new_jobs[0].id

    worker = workers.start(stack)

    def settled() -> bool:
        with session_scope(factory) as s:
            jobs = s.scalars(select(Job)).all()
            return all(j.status.finished for j in jobs) and any(j.id == head_job and j.status.finished for j in jobs)

    # Publish the head only after the first points are in, as a later push would arrive.
    kit.wait_for(lambda: _finished(factory) >= 4, 150, "the backfilled commits", worker)
    publish_jobs(settings, [head_job])
    kit.wait_for(settled, 240, "the head, the bisection and the confirmation", worker)
    with session_scope(factory) as s:
        jobs = s.scalars(select(Job)).all()
        assert all(j.status == JobStatus.SUCCEEDED for j in jobs), [(j.kind.value, j.error) for j in jobs]
        bisected = [j.commit.sha for j in jobs if j.kind == JobKind.BISECT]
        assert shas[5] in bisected  # the middle of 6..7 was measured on the same host
        alerts = s.scalars(select(Alert)).all()
        assert [a.suspect_commit.sha for a in alerts] == [shas[5]], [(a.suspect_commit.sha, a.change_pct) for a in alerts]
        assert alerts[0].last_good_commit.sha == shas[4]


def _finished(factory) -> int:  # type: ignore[no-untyped-def]
    with session_scope(factory) as s:
        return sum(1 for j in s.scalars(select(Job)) if j.status == JobStatus.SUCCEEDED)
