"""The job's state machine in the store: one claimant, fenced finish, orphan recovery."""

from __future__ import annotations

from datetime import timedelta

from db.base import utcnow
from db.ingest import queue_job, upsert_commits, CommitInfo
from db.models import Host, Job, JobStatus, Repository
from db.session import session_scope
from worker import jobstate


def _setup(factory) -> tuple[int, int, int]:
    with session_scope(factory) as s:
        repo = Repository(full_name="acme/tiny", clone_url="/srv/tiny")
        s.add(repo)
        s.flush()
        (commit,) = upsert_commits(s, repo, [CommitInfo(sha="a" * 40)])
        job = queue_job(s, commit, "ci", dedup_key="k")
        h1, h2 = Host(name="h1"), Host(name="h2")
        s.add_all([h1, h2])
        s.flush()
        return job.id, h1.id, h2.id


def test_one_claimant_and_fenced_finish(session_factory) -> None:
    job_id, h1, h2 = _setup(session_factory)
    with session_scope(session_factory) as s:
        first = jobstate.claim(s, job_id, h1, "fp", max_attempts=3)
    with session_scope(session_factory) as s:
        assert jobstate.claim(s, job_id, h2, "fp", max_attempts=3) is None  # a duplicate delivery
    assert first is not None and first.attempt == 1
    with session_scope(session_factory) as s:
        assert jobstate.finish(s, first, JobStatus.SUCCEEDED, log_tail="ok")
    with session_scope(session_factory) as s:
        job = s.get(Job, job_id)
        assert (job.status, job.attempts, job.host_fingerprint) == (JobStatus.SUCCEEDED, 1, "fp")
        assert s.get(Host, h1).current_job_id is None
        assert jobstate.claim(s, job_id, h1, "fp", max_attempts=3) is None  # finished stays finished


def test_restarted_host_releases_its_orphan_and_stale_claim_cannot_finish(session_factory) -> None:
    job_id, h1, _ = _setup(session_factory)
    with session_scope(session_factory) as s:
        stale = jobstate.claim(s, job_id, h1, "fp", max_attempts=3)
    with session_scope(session_factory) as s:
        assert jobstate.recover_host(s, h1, max_attempts=3) == [job_id]
    with session_scope(session_factory) as s:
        job = s.get(Job, job_id)
        assert job.status == JobStatus.QUEUED and job.published_at is None
        assert "attempt 1 of 3" in job.error
        again = jobstate.claim(s, job_id, h1, "fp", max_attempts=3)
    assert again.attempt == 2
    with session_scope(session_factory) as s:
        assert not jobstate.finish(s, stale, JobStatus.SUCCEEDED)  # the old run lost its claim
        assert jobstate.finish(s, again, JobStatus.SUCCEEDED)


def test_attempts_run_out_then_the_job_fails_with_the_reason(session_factory) -> None:
    job_id, h1, _ = _setup(session_factory)
    for _ in range(2):
        with session_scope(session_factory) as s:
            assert jobstate.claim(s, job_id, h1, "fp", max_attempts=2) is not None
        with session_scope(session_factory) as s:
            jobstate.recover_host(s, h1, max_attempts=2)
    with session_scope(session_factory) as s:
        job = s.get(Job, job_id)
        assert job.status == JobStatus.FAILED
        assert job.error == ("the worker stopped during the job (killed or crashed); "
                             "gave up after 2 of 2 attempts")


def test_silent_host_loses_its_job(session_factory) -> None:
    job_id, h1, h2 = _setup(session_factory)
    with session_scope(session_factory) as s:
        jobstate.claim(s, job_id, h1, "fp", max_attempts=3)
    with session_scope(session_factory) as s:
        assert jobstate.recover_silent_hosts(s, timedelta(seconds=60), 3) == []  # h1 just reported
        s.get(Host, h1).last_seen = utcnow() - timedelta(minutes=5)
    with session_scope(session_factory) as s:
        assert jobstate.recover_silent_hosts(s, timedelta(seconds=60), 3) == [job_id]
        assert "stopped reporting" in s.get(Job, job_id).error
