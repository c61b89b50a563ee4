"""Bisection through a real worker: a change first seen on a commit whose ancestors were never
measured is narrowed down to the commit that made it, then confirmed by a re-run."""

from __future__ import annotations

from datetime import UTC, datetime
from statistics import median

from sqlalchemy import select

from db.ingest import CommitInfo, get_repository, record_push
from db.models import Alert, Job, JobKind, JobStatus, Result
from db.session import make_engine, make_session_factory, session_scope
from worker.backfill import backfill
from worker.publish import publish_jobs
from worker.repos import add_repository


def test_unmeasured_commits_are_bisected_to_the_culprit(stack, git_repo, workers, kit) -> None:
    # Commits 1-5 fast, 6-10 slow. 2-5 are measured, then only 8, 9 and 10 arrive (three pull
    # request heads, say): the change lies somewhere in 6..8, and 6 and 7 were never measured.
    repo_path, shas = git_repo([kit.CommitSpec(work=kit.SLOW if i >= 6 else kit.FAST) for i in range(1, 11)])
    settings = stack.settings

    add_repository(settings, "acme/tiny", str(repo_path))
    assert len(backfill(settings, "acme/tiny", rev_range=f"{shas[0]}..{shas[4]}")) == 4
    factory = make_session_factory(make_engine(settings.database_url))
    head_jobs = []
    with session_scope(factory) as s:
        repo = get_repository(s, "acme/tiny")
        for n in (8, 9, 10):
            head = record_push(s, repo, branch=f"pull/{n}", source="pull_request", suites=settings.suites,
                               commits=[CommitInfo(sha=shas[n - 1], parents=[shas[n - 2]],
                                                   committed_at=datetime(2026, 1, n, 12, tzinfo=UTC))])
            head_jobs += [j.id for j in head.new_jobs]

    worker = workers.start(stack)
    publish_jobs(settings, head_jobs)

    def settled() -> bool:
        with session_scope(factory) as s:
            jobs = kit.settled_jobs(s)
            return jobs is not None and len(jobs) > 7

    kit.wait_for(settled, 240, "the heads, the bisection and the confirmation", worker)
    with session_scope(factory) as s:
        jobs = s.scalars(select(Job)).all()
        assert all(j.status == JobStatus.SUCCEEDED for j in jobs), \
            [(j.kind.value, j.status.value, j.error, (j.log_tail or '')[-300:]) for j in jobs if j.status != JobStatus.SUCCEEDED]
        bisected = [j.commit.sha for j in jobs if j.kind == JobKind.BISECT]
        # Each job's kind, commit (1-10), tuned/eager ratio and verdicts, and the worker's notes
        # on bisection and re-runs: enough to tell a bisection that never started from one that
        # went elsewhere, and whether a noisy point misled it.
        results = {(r.job_id, r.benchmark.name): r for r in s.scalars(select(Result))}
        history = []
        for j in sorted(jobs, key=lambda j: j.id):
            tuned = results.get((j.id, "loop-eval-fp32-tuned_latency"))
            eager = results.get((j.id, "loop-eval-fp32-eager_latency"))
            ratio = round(median(tuned.samples) / median(eager.samples), 2) if tuned and eager else None
            history.append((j.id, j.kind.value, shas.index(j.commit.sha) + 1, ratio,
                            tuned.verdict.value if tuned and tuned.verdict else None, (j.summary or {}).get("verdicts")))
        notable = [line for line in worker.log().splitlines()
                   if any(word in line for word in ("WARNING", "ERROR", "bisect", "confirm"))]
        # A string: pytest shortens a long list.
        history_text = "\n".join(map(str, history)) + "\nworker log:\n" + "\n".join(notable[-40:])
        assert shas[5] in bisected, history_text  # the middle of 6..7 was measured on the same host
        alerts = s.scalars(select(Alert)).all()
        assert [a.suspect_commit.sha for a in alerts] == [shas[5]], (
            f"{[(a.suspect_commit.sha, a.change_pct) for a in alerts]}\n{history_text}")
        assert alerts[0].last_good_commit.sha == shas[4]

