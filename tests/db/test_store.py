"""The store on both backends: migrations, constraints that make ingestion idempotent, UTC."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from db.delivery import Claim, Delivery, PushRows, Recorded, delivery_engine, record_delivery
from db.ingest import CommitInfo, IngestError, record_push, regular_job_key, upsert_commits
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


def _delivery(delivery_id: str, infos: list[CommitInfo], suites: list[str], branch: str = "main") -> Delivery:
    push = PushRows(branch=branch, commits=infos, source="push", suites=suites, before_sha=sha(9))
    return Delivery(delivery_id, "push", "Octo/Widgets", "queued", f"{len(infos)} commit(s)", push)


def test_a_delivery_records_what_record_push_records(session_factory, repo_id: int) -> None:
    """The webhook's write path and the shared one agree row for row: a backfill of commits a
    delivery queued adds no job, and a delivery of commits a backfill queued adds none either."""
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    infos = [CommitInfo(sha=sha(40), parents=[sha(9)], author="Ada", message="one\n\nbody", committed_at=when,
                        url="https://example.invalid/c/40"),
             CommitInfo(sha=sha(41), parents=[sha(40)], author="x" * 300, message="two")]
    engine = delivery_engine(session_factory.kw["bind"])
    try:
        recorded = record_delivery(engine, _delivery("d-40", infos, ["ci", "full"]))
        assert (recorded.claim, recorded.commits, len(recorded.jobs)) == (Claim.RECORDED, 2, 4)
        assert record_delivery(engine, _delivery("d-40", infos, ["ci", "full"])).claim is Claim.REPEATED
        with session_scope(session_factory) as s:
            repo = s.get(Repository, repo_id)
            backfill = record_push(s, repo, branch="main", commits=infos, source="backfill", suites=["ci", "full"])
            assert backfill.new_jobs == []
            extra = [CommitInfo(sha=sha(42), parents=[sha(41)])]
            assert len(record_push(s, repo, branch="main", commits=extra, source="backfill", suites=["ci"]).new_jobs) == 1
        again = record_delivery(engine, _delivery("d-42", [*infos, *extra], ["ci"], branch="other"))
        assert (again.claim, again.commits, again.jobs) == (Claim.RECORDED, 3, ())
    finally:
        engine.dispose()
    with session_scope(session_factory) as s:
        jobs = s.scalars(select(Job).order_by(Job.id)).all()
        assert [j.id for j in jobs[:4]] == [job_id for job_id, _ in recorded.jobs]
        by_sha = {c.sha: c for c in s.scalars(select(Commit))}
        assert [(j.commit_id, j.suite) for j in jobs[:4]] == [
            (by_sha[sha(40)].id, "ci"), (by_sha[sha(40)].id, "full"), (by_sha[sha(41)].id, "ci"), (by_sha[sha(41)].id, "full")]
        assert all(j.dedup_key == regular_job_key(j.commit_id, j.suite, j.queue) for j in jobs)
        assert all((j.status, j.kind.value, j.params, j.queue) == (JobStatus.QUEUED, "regular", {}, "bench.any") for j in jobs)
        first = by_sha[sha(40)]
        assert (first.parents, first.author, first.message, first.committed_at, first.url) == (
            [sha(9)], "Ada", "one\n\nbody", when, "https://example.invalid/c/40")
        assert by_sha[sha(41)].author == "x" * 255
        push = s.scalars(select(Push).where(Push.delivery_id == "d-40")).one()
        assert (push.branch, push.before_sha, push.after_sha, push.source) == ("main", sha(9), sha(41), "push")
        positions = s.execute(select(PushCommit.commit_id, PushCommit.position).where(PushCommit.push_id == push.id)
                              .order_by(PushCommit.position)).all()
        assert [tuple(p) for p in positions] == [(by_sha[sha(40)].id, 0), (by_sha[sha(41)].id, 1)]
        delivery = s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).first()
        assert (delivery.delivery_id, delivery.repository, delivery.outcome) == ("d-40", "Octo/Widgets", "queued")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_delivery_racing_another_writer_for_its_commit_records_it_once(session_factory, repo_id: int) -> None:
    """Another transaction inserts the delivery's commit and commits only while the delivery's
    statement waits on it: the statement cannot see that row, fails, and is run again."""
    base = session_factory.kw["bind"]
    engine = delivery_engine(base)
    outcome: list[object] = []
    try:
        with base.connect() as other:
            other.execute(insert(Commit).values(repository_id=repo_id, sha=sha(50), parents=[], author="",
                                                message="by the other writer", created_at=datetime.now(UTC)))
            worker = threading.Thread(target=lambda: outcome.append(
                record_delivery(engine, _delivery("d-50", [CommitInfo(sha=sha(50))], ["ci"]))))
            worker.start()
            with base.connect() as probe:  # wait until the delivery waits for the other writer
                while not probe.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'")).scalar():
                    assert worker.is_alive(), outcome
                    probe.rollback()
                    time.sleep(0.01)
            other.commit()
        worker.join()
    finally:
        engine.dispose()
    (recorded,) = outcome
    assert isinstance(recorded, Recorded)
    assert (recorded.claim, recorded.commits, len(recorded.jobs)) == (Claim.RECORDED, 1, 1)
    with session_scope(session_factory) as s:
        commit = s.scalars(select(Commit)).one()
        assert commit.message == "by the other writer"
        assert s.scalars(select(PushCommit.commit_id)).all() == [commit.id]
        assert s.scalars(select(Job.commit_id)).all() == [commit.id]
        assert s.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


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
