"""The outbox relay: committed jobs are published in the background, one stamp per batch, and a
dead broker costs the caller nothing (the rows stay for the sweeper)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dashboard.publishing import OutboxRelay
from db.ingest import CommitInfo, queue_job, upsert_commits
from db.models import Job, JobStatus, Repository
from perfhud.settings import Settings


def queued_jobs(factory: sessionmaker[Session], count: int, prefix: str = "a") -> list[tuple[int, str]]:
    with factory() as session:
        repo = session.scalars(select(Repository)).first()
        if repo is None:
            repo = Repository(full_name="acme/relay", clone_url="https://example.invalid/relay.git")
            session.add(repo)
            session.flush()
        shas = [f"{prefix}{i:039x}" for i in range(count)]
        commits = upsert_commits(session, repo, [CommitInfo(sha=sha) for sha in shas])
        jobs = [queue_job(session, c, "ci", dedup_key=f"relay:{c.sha}") for c in commits]
        session.commit()
        return [(job.id, job.queue) for job in jobs if job is not None]


def published(factory: sessionmaker[Session], ids: list[int]) -> list[bool]:
    with factory() as session:
        rows = session.execute(select(Job.id, Job.published_at, Job.status).where(Job.id.in_(ids)).order_by(Job.id))
        return [published_at is not None and status == JobStatus.QUEUED for _, published_at, status in rows]


def test_relay_publishes_every_job_once_and_stamps_it(
    make_settings: Callable[..., Settings], session_factory: sessionmaker[Session]
) -> None:
    settings = make_settings()  # the embedded broker, in the test's data directory
    settings.data_dir.mkdir(parents=True)
    jobs = queued_jobs(session_factory, 7)
    relay = OutboxRelay(settings)
    relay.submit(jobs[:3])
    relay.submit(jobs[3:])
    assert relay.flush(timeout=60)
    assert published(session_factory, [j for j, _ in jobs]) == [True] * 7
    with sqlite3.connect(settings.data_dir / "broker.db") as broker:
        assert broker.execute("select count(*) from kombu_message").fetchone()[0] == 7


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_relay_with_the_broker_down_leaves_the_jobs_to_the_sweeper(
    make_settings: Callable[..., Settings], session_factory: sessionmaker[Session]
) -> None:
    # Nothing listens on port 1: every attempt fails at once.
    settings = make_settings(PERFHUD_BROKER_URL="redis://127.0.0.1:1/0")
    jobs = queued_jobs(session_factory, 3)
    relay = OutboxRelay(settings)
    relay.submit(jobs)
    assert relay.flush(timeout=60)
    assert published(session_factory, [j for j, _ in jobs]) == [False] * 3
    relay.submit(jobs[:1])  # the relay lives on after a failure
    assert relay.flush(timeout=60)


def test_flush_without_work_returns_at_once(make_settings: Callable[..., Settings]) -> None:
    assert OutboxRelay(make_settings()).flush(timeout=0.0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_forked_process_runs_its_own_relay(
    make_settings: Callable[..., Settings], session_factory: sessionmaker[Session], redis_url: str
) -> None:
    """A web server forks its workers: a child must neither inherit the parent's queue nor wait
    on the parent's thread (which does not exist in the child)."""
    settings = make_settings(PERFHUD_BROKER_URL=redis_url)
    before, in_child, after = (queued_jobs(session_factory, 2, prefix) for prefix in ("b", "c", "d"))
    relay = OutboxRelay(settings)
    relay.submit(before)
    assert relay.flush(timeout=60)
    pid = os.fork()
    if pid == 0:  # the child: publish its own jobs, report through the exit status only
        code = 1
        try:
            relay.submit(in_child)
            code = 0 if relay.flush(timeout=60) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    relay.submit(after)
    assert relay.flush(timeout=60)
    ids = [j for j, _ in before + in_child + after]
    assert published(session_factory, ids) == [True] * 6
    assert redis.Redis.from_url(redis_url).llen("bench.any") == 6
