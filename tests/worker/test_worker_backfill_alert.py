"""Show: backfill six commits of a real repository through a real worker; commit 4 makes the
benchmarked loop twice as slow, and commit 4, and only commit 4, gets an alert."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Alert, AlertGroup, Benchmark, Commit, Job, JobKind, JobStatus, Result, Verdict
from db.session import make_engine, make_session_factory, session_scope
from worker.backfill import backfill
from worker.repos import add_repository


def test_backfill_six_commits_alerts_only_commit_four(stack, git_repo, workers, kit) -> None:
    # 31 interleaved samples per commit: the per-commit ratio must stand out of a shared machine's noise.
    specs = [kit.CommitSpec(work=kit.SLOW if i >= 4 else kit.FAST, samples=31) for i in range(1, 7)]
    repo_path, shas = git_repo(specs)
    settings = stack.settings

    add_repository(settings, "acme/tiny", str(repo_path))
    job_ids = backfill(settings, "acme/tiny", last=6)
    assert len(job_ids) == 6
    assert backfill(settings, "acme/tiny", last=6) == []  # a second backfill adds nothing

    worker = workers.start(stack)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)

    def settled() -> bool:
        with session_scope(factory) as s:
            jobs = kit.settled_jobs(s)
            return jobs is not None and sum(j.kind == JobKind.REGULAR and j.status == JobStatus.SUCCEEDED
                                            for j in jobs) == 6

    kit.wait_for(settled, 150, "all jobs (regular and follow-ups) to finish", worker)
    with session_scope(factory) as s:
        jobs = {j.id: j for j in s.scalars(select(Job))}
        regular = sorted((j for j in jobs.values() if j.kind == JobKind.REGULAR), key=lambda j: j.id)
        assert [j.commit.sha for j in regular] == shas  # oldest first
        assert all(j.status == JobStatus.SUCCEEDED for j in jobs.values()), \
            {j.id: (j.kind.value, j.status.value, j.error) for j in jobs.values()}
        assert all(j.attempts == 1 for j in regular)
        assert all(j.log_tail is not None and "bench.py" in j.log_tail for j in regular)

        tuned = s.scalars(select(Benchmark).where(Benchmark.variant == "tuned")).one()
        results = s.execute(
            select(Commit.sha, Result).join(Result, Result.commit_id == Commit.id)
            .join(Job, Job.id == Result.job_id).where(Result.benchmark_id == tuned.id, Job.kind == JobKind.REGULAR)
        ).all()
        assert sorted(sha for sha, _ in results) == sorted(shas)  # one result per commit, none twice
        for _, r in results:
            assert r.n == 31 and len(r.samples) == 31
            assert r.median > 0 and r.p90 >= r.median and r.p99 >= r.p90 and r.stdev >= 0
        by_sha = {sha: r for sha, r in results}
        verdicts = {i + 1: by_sha[sha].verdict for i, sha in enumerate(shas)}
        eager = {sha: r.median for sha, r in s.execute(
            select(Commit.sha, Result).join(Result, Result.commit_id == Commit.id)
            .where(Result.benchmark_id != tuned.id)).all()}
        ratios = [round(by_sha[sha].median / eager[sha], 3) for sha in shas]
        follow_ups = [(j.kind.value, j.commit.sha[:8], j.summary.get("verdicts") if j.summary else None)
                      for j in jobs.values() if j.kind != JobKind.REGULAR]
        assert verdicts[4] == Verdict.REGRESSION, str((verdicts, ratios, follow_ups))
        # Every commit's detection has run (`settled_jobs`): each one has a verdict.
        assert all(v == Verdict.NO_CHANGE for i, v in verdicts.items() if i != 4), \
            str(({i: (v.value if v else None, by_sha[shas[i - 1]].change_pct) for i, v in verdicts.items()},
                 ratios, follow_ups))

        alerts = list(s.scalars(select(Alert)))
        assert [a.suspect_commit.sha for a in alerts] == [shas[3]], [(a.suspect_commit.sha, a.change_pct) for a in alerts]
        alert = alerts[0]
        assert alert.benchmark_id == tuned.id
        assert alert.last_good_commit.sha == shas[2]
        assert alert.direction.value == "regression"
        assert 60 < alert.change_pct < 150, alert.change_pct  # the loop does twice the work
        groups = list(s.scalars(select(AlertGroup)))
        assert len(groups) == 1 and groups[0].suspect_commit_id == alert.suspect_commit_id
        assert groups[0].push_id is not None

        # Commit 4's suspicion was confirmed by a re-run on the same host. On a noisy machine a
        # young series may also send another commit to a re-run; the re-run must reject it.
        confirmations = {j.commit.sha: j for j in jobs.values() if j.kind == JobKind.CONFIRM}
        assert shas[3] in confirmations
        assert all(j.queue == "bench.testhost" for j in confirmations.values())
        assert confirmations[shas[3]].summary["verdicts"] == {"loop-eval-fp32-tuned_latency": "regression"}
        for sha, job in confirmations.items():
            if sha != shas[3]:
                assert job.summary.get("verdicts", {}).get("loop-eval-fp32-tuned_latency") != "regression", job.summary
    engine.dispose()
