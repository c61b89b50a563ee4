"""The store on both backends: migrations, constraints that make ingestion idempotent, UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from db.ingest import CommitInfo, IngestError, record_push, upsert_commits
from db.migrate import check
from db.models import (
    Alert, AlertDirection, AlertGroup, Benchmark, Commit, Direction, Host, Job, JobStatus, Push,
    PushCommit, Repository, Result, WebhookDelivery,
)
from db.session import session_scope


def sha(i: int) -> str:
    return f"{i:040x}"


@pytest.fixture
def repo_id(session_factory) -> int:
    with session_scope(session_factory) as s:
        repo = Repository(full_name="octo/widgets", clone_url="https://example.invalid/octo/widgets.git")
        s.add(repo)
        s.flush()
        return repo.id


def test_migrations_match_models(database_url: str) -> None:
    check(database_url)  # raises alembic's CommandError on drift


@pytest.mark.parametrize(
    ("make_duplicate", "table"),
    [
        (lambda rid: [WebhookDelivery(delivery_id="d-1", event="push", outcome="queued")] * 1, "webhook_delivery"),
        (lambda rid: [Commit(repository_id=rid, sha=sha(1))], "commit"),
        (lambda rid: [Repository(full_name="octo/widgets", clone_url="x")], "repository"),
        (lambda rid: [Host(name="h1")], "host"),
    ],
)
def test_unique_constraints(session_factory, repo_id: int, make_duplicate, table: str) -> None:
    with session_scope(session_factory) as s:
        s.add(WebhookDelivery(delivery_id="d-1", event="push", outcome="queued"))
        s.add(Commit(repository_id=repo_id, sha=sha(1)))
        s.add(Host(name="h1"))
    with pytest.raises(IntegrityError, match=table):
        with session_scope(session_factory) as s:
            s.add_all(make_duplicate(repo_id))


def test_one_result_per_job_and_benchmark(session_factory, repo_id: int) -> None:
    with session_scope(session_factory) as s:
        commit = Commit(repository_id=repo_id, sha=sha(2))
        host = Host(name="h1")
        bench = Benchmark(model="resnet50", mode="eval", precision="fp32", variant="eager",
                          metric="latency_p50", unit="ms", direction=Direction.LOWER)
        s.add_all([commit, host, bench])
        s.flush()
        job = Job(commit_id=commit.id, suite="ci")
        s.add(job)
        s.flush()
        ids = dict(job_id=job.id, benchmark_id=bench.id, repository_id=repo_id, commit_id=commit.id, host_id=host.id)
        s.add(Result(**ids, samples=[1.0, 2.0, 3.0], n=3, median=2.0, mean=2.0, stdev=1.0, p90=2.8, p99=2.98))
    with pytest.raises(IntegrityError):
        with session_scope(session_factory) as s:
            s.add(Result(**ids, samples=[1.0], n=1, median=1.0, mean=1.0, stdev=0.0, p90=1.0, p99=1.0))
    with session_scope(session_factory) as s:
        stored = s.scalars(select(Result)).one()
        assert stored.samples == [1.0, 2.0, 3.0]  # raw samples survive the round trip
        assert stored.benchmark.name == "resnet50-eval-fp32-eager_latency_p50"


def test_times_are_utc_aware(session_factory, repo_id: int) -> None:
    plus_two = timezone(timedelta(hours=2))
    with session_scope(session_factory) as s:
        s.add(Commit(repository_id=repo_id, sha=sha(3), committed_at=datetime(2026, 1, 1, 12, tzinfo=plus_two)))
    with session_scope(session_factory) as s:
        commit = s.scalars(select(Commit).where(Commit.sha == sha(3))).one()
        assert commit.committed_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
        assert commit.committed_at.tzinfo is not None
        assert commit.created_at.tzinfo is not None
    with pytest.raises(Exception, match="naive datetime"):
        with session_scope(session_factory) as s:
            s.add(Commit(repository_id=repo_id, sha=sha(4), committed_at=datetime(2026, 1, 1)))


def test_record_push_is_idempotent_per_commit_and_suite(session_factory, repo_id: int) -> None:
    infos = [CommitInfo(sha=sha(10 + i), parents=[sha(9 + i)], message=f"change {i}") for i in range(3)]
    with session_scope(session_factory) as s:
        repo = s.get(Repository, repo_id)
        first = record_push(s, repo, branch="main", commits=infos, source="push", suites=["ci", "full"])
        assert len(first.new_jobs) == 6
    with session_scope(session_factory) as s:
        repo = s.get(Repository, repo_id)
        # The same commits pushed again (to another branch, or by a backfill): no new jobs.
        again = record_push(s, repo, branch="feature", commits=infos[1:], source="push", suites=["ci"])
        assert again.new_jobs == []
        assert [c.sha for c in again.commits] == [sha(11), sha(12)]
    with session_scope(session_factory) as s:
        assert s.scalar(select(func.count()).select_from(Commit)) == 3
        assert s.scalar(select(func.count()).select_from(Job)) == 6
        assert s.scalar(select(func.count()).select_from(Push)) == 2
        assert s.scalar(select(func.count()).select_from(PushCommit)) == 5
        statuses = set(s.scalars(select(Job.status)))
        assert statuses == {JobStatus.QUEUED}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sha": "abc"}, "40 lowercase hex"),
        ({"sha": "g" * 40}, "40 lowercase hex"),
        ({"sha": sha(1), "parents": ["$(rm -rf /)"]}, "parent sha"),
    ],
)
def test_commit_info_rejects_bad_shas(kwargs: dict, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        CommitInfo(**kwargs)


def test_upsert_commits_keeps_existing_rows(session_factory, repo_id: int) -> None:
    with session_scope(session_factory) as s:
        repo = s.get(Repository, repo_id)
        upsert_commits(s, repo, [CommitInfo(sha=sha(20), message="original")])
    with session_scope(session_factory) as s:
        repo = s.get(Repository, repo_id)
        (commit,) = upsert_commits(s, repo, [CommitInfo(sha=sha(20), message="rewritten")])
        assert commit.message == "original"  # stored data is never overwritten by a replay


def test_alert_group_holds_its_alerts(session_factory, repo_id: int) -> None:
    with session_scope(session_factory) as s:
        commit = Commit(repository_id=repo_id, sha=sha(30))
        host = Host(name="h2")
        bench = Benchmark(model="bert", mode="eval", precision="fp32", variant="optlib",
                          metric="latency_p50", unit="ms", direction=Direction.LOWER)
        s.add_all([commit, host, bench])
        s.flush()
        group = AlertGroup(repository_id=repo_id, suspect_commit_id=commit.id)
        s.add(group)
        s.flush()
        s.add(Alert(group_id=group.id, repository_id=repo_id, benchmark_id=bench.id, host_id=host.id,
                    suspect_commit_id=commit.id, direction=AlertDirection.REGRESSION,
                    change_pct=12.5, confidence=0.99))
    with session_scope(session_factory) as s:
        group = s.scalars(select(AlertGroup)).one()
        assert [a.change_pct for a in group.alerts] == [12.5]
