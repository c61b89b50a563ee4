"""Change detection at the store's edge: a suspect the stream raises again after its re-run
has finished takes the re-run's word, and is never left a suspect that no job will decide; a
change confirmed late (the slow lane) is still alerted at its own commit; a step after the
first points of a new series is suspected at its own commit, whatever order the points
arrive in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from db.models import (Alert, AlertState, Benchmark, Commit, Direction, Host, Job, JobKind, JobStatus, Repository,
                       Result, Verdict)
from db.results import summary_stats
from db.session import make_engine, make_session_factory, session_scope
from worker.analysis import DETECTOR_CONFIG, analyze_job
from worker.confirmation import apply_confirmation

FINGERPRINT = "f" * 64
SUITE = "default"


class Store:
    """A repository measured on one host, built row by row as a worker would leave it."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        self.factory = make_session_factory(self.engine)
        self.rng = np.random.default_rng(0)
        with session_scope(self.factory) as s:
            repo = Repository(full_name="octo/widgets", clone_url="https://example.invalid/octo/widgets.git")
            host = Host(name="h1", fingerprint=FINGERPRINT)
            s.add_all([repo, host])
            s.flush()
            self.repo_id, self.host_id = repo.id, host.id
        self.shas: list[str] = []

    def benchmark(self, model: str) -> int:
        with session_scope(self.factory) as s:
            bench = Benchmark(model=model, mode="eval", precision="fp32", variant="tuned", metric="latency",
                              unit="ms", direction=Direction.LOWER)
            s.add(bench)
            s.flush()
            return bench.id

    def samples(self, level: float, n: int = 15) -> list[float]:
        return [float(v) for v in level * (1 + self.rng.normal(0, 0.003, n))]

    def measured_commit(self, levels: dict[int, float], *, finished: bool = True) -> int:
        """The next commit, measured by a regular job (still running unless ``finished``):
        benchmark id -> level."""
        i = len(self.shas) + 1
        sha = f"{i:040x}"
        with session_scope(self.factory) as s:
            commit = Commit(repository_id=self.repo_id, sha=sha, parents=self.shas[-1:],
                            committed_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i))
            s.add(commit)
            s.flush()
            names = [s.get(Benchmark, b).name for b in levels]
            job = Job(commit_id=commit.id, suite=SUITE, kind=JobKind.REGULAR,
                      status=JobStatus.SUCCEEDED if finished else JobStatus.RUNNING,
                      host_id=self.host_id, host_fingerprint=FINGERPRINT, summary={"series": names})
            s.add(job)
            s.flush()
            for bench_id, level in levels.items():
                samples = self.samples(level)
                s.add(Result(job_id=job.id, benchmark_id=bench_id, repository_id=self.repo_id,
                             commit_id=commit.id, host_id=self.host_id, samples=samples, **summary_stats(samples)))
            self.shas.append(sha)
            return job.id

    def finish(self, job_id: int) -> None:
        with session_scope(self.factory) as s:
            s.get(Job, job_id).status = JobStatus.SUCCEEDED

    def finish_rerun(self, rerun_id: int, parent: dict[str, float], suspect: dict[str, float]) -> None:
        """The re-run's three runs a side, as the worker stores them in the job's summary."""
        with session_scope(self.factory) as s:
            rerun = s.get(Job, rerun_id)
            rerun.status, rerun.host_id, rerun.host_fingerprint = JobStatus.SUCCEEDED, self.host_id, FINGERPRINT
            runs = {side: {name: [self.samples(level) for _ in range(3)] for name, level in levels.items()}
                    for side, levels in (("parent", parent), ("suspect", suspect))}
            rerun.summary = {"parent_sha": self.shas[-2], "runs": runs}

    def verdict(self, bench_id: int, sha: str) -> Verdict | None:
        with session_scope(self.factory) as s:
            return s.scalars(select(Result.verdict).join(Commit, Commit.id == Result.commit_id)
                             .where(Result.benchmark_id == bench_id, Commit.sha == sha)).one()

    def jobs(self, kind: JobKind) -> list[tuple[int, JobStatus, dict]]:
        with session_scope(self.factory) as s:
            return [(j.id, j.status, dict(j.summary or {})) for j in
                    s.scalars(select(Job).where(Job.kind == kind).order_by(Job.id))]


@pytest.fixture
def store(database_url: str) -> Store:
    built = Store(database_url)
    yield built
    built.engine.dispose()


def suspect_with_rerun(store: Store, settings, bench: int, others: dict[int, float]) -> tuple[int, str]:
    """Two commits at one level, a third far above it: a young series' suspect, sent to a re-run."""
    for level in (100.0, 100.5):
        analyze_job(settings, store.measured_commit({bench: level, **others}))
    new_jobs = analyze_job(settings, store.measured_commit({bench: 130.0, **others}))
    suspect = store.shas[-1]
    assert store.verdict(bench, suspect) == Verdict.SUSPECT
    reruns = store.jobs(JobKind.CONFIRM)
    assert [r[0] for r in reruns] == new_jobs and len(new_jobs) == 1, (reruns, new_jobs)
    return new_jobs[0], suspect


def test_a_suspect_raised_again_after_its_rerun_rejected_it_keeps_the_rerun_s_word(store, make_settings) -> None:
    settings = make_settings()
    bench = store.benchmark("loop")
    rerun_id, suspect = suspect_with_rerun(store, settings, bench, {})
    name = "loop-eval-fp32-tuned_latency"
    store.finish_rerun(rerun_id, parent={name: 100.0}, suspect={name: 100.0})
    assert apply_confirmation(settings, rerun_id) == {name: "no_change"}
    assert store.verdict(bench, suspect) == Verdict.NO_CHANGE

    # The next point sits at the suspect's level again: the stream names the same commit.
    assert analyze_job(settings, store.measured_commit({bench: 130.0})) == []
    assert store.verdict(bench, suspect) == Verdict.NO_CHANGE
    assert len(store.jobs(JobKind.CONFIRM)) == 1  # the re-run is not repeated
    with session_scope(store.factory) as s:
        open_suspects = s.scalars(select(Result.id).where(Result.verdict == Verdict.SUSPECT)).all()
        assert open_suspects == []
        assert s.scalars(select(Alert)).all() == []


def test_a_series_suspect_after_the_rerun_finished_is_decided_from_its_runs(store, make_settings) -> None:
    """The re-run measured the whole suite: a second series that turns suspect at the same
    commit later (a later point made the step stand out) is decided from those runs."""
    settings = make_settings()
    first, second = store.benchmark("loop"), store.benchmark("other")
    names = {"loop": "loop-eval-fp32-tuned_latency", "other": "other-eval-fp32-tuned_latency"}
    rerun_id, suspect = suspect_with_rerun(store, settings, first, {second: 50.0})
    assert store.verdict(second, suspect) == Verdict.NO_CHANGE
    store.finish_rerun(rerun_id, parent={names["loop"]: 100.0, names["other"]: 50.0},
                       suspect={names["loop"]: 130.0, names["other"]: 65.0})
    assert apply_confirmation(settings, rerun_id) == {names["loop"]: "regression"}

    # Rewrite the second series' point at the suspect as if it had been measured at 65, then
    # let the next point (also 65) make the stream suspect it.
    with session_scope(store.factory) as s:
        point = s.scalars(select(Result).join(Commit, Commit.id == Result.commit_id)
                          .where(Result.benchmark_id == second, Commit.sha == suspect)).one()
        point.samples = store.samples(65.0)
    analyze_job(settings, store.measured_commit({first: 130.0, second: 65.0}))
    assert store.verdict(second, suspect) == Verdict.REGRESSION
    (_, _, summary), = store.jobs(JobKind.CONFIRM)
    assert summary["verdicts"] == {names["loop"]: "regression", names["other"]: "regression"}
    with session_scope(store.factory) as s:
        alerts = {(s.get(Benchmark, a.benchmark_id).model, a.state) for a in s.scalars(select(Alert))}
    assert alerts == {("loop", AlertState.CONFIRMED), ("other", AlertState.CONFIRMED)}


def test_a_small_step_on_a_noisy_series_is_alerted_late_at_its_own_commit(store, make_settings) -> None:
    """5 % on a series whose commits scatter by 3.5 %: too small for the detector's first
    `max_lag` points, confirmed by its slow lane some twenty commits on. The worker opens
    the alert at the commit where the step began, with no re-run queued for it: the stream
    alone decided."""
    settings = make_settings()
    bench = store.benchmark("noisy")
    run_noise = np.random.default_rng(4)
    raised_at = None
    for i in range(140):
        level = 100.0 * (1.05 if i >= 100 else 1.0) * (1 + run_noise.normal(0, 0.035))
        analyze_job(settings, store.measured_commit({bench: level}))
        if raised_at is not None:
            continue
        with session_scope(store.factory) as s:
            alerts = [(s.get(Commit, a.suspect_commit_id).sha, s.get(Commit, a.last_good_commit_id).sha)
                      for a in s.scalars(select(Alert))]
        if alerts:
            raised_at = i
            (suspect, last_good), = alerts
    assert raised_at is not None
    assert abs(store.shas.index(suspect) - 100) <= 2
    points_at_the_new_level = raised_at - store.shas.index(suspect) + 1
    assert DETECTOR_CONFIG.max_lag < points_at_the_new_level <= DETECTOR_CONFIG.slow_max_lag
    assert store.shas.index(last_good) == store.shas.index(suspect) - 1
    assert store.verdict(bench, suspect) == Verdict.REGRESSION
    with session_scope(store.factory) as s:
        reruns = s.scalars(select(Job).where(Job.kind == JobKind.CONFIRM)).all()
        rerun_at = {store.shas.index(s.get(Commit, j.commit_id).sha) for j in reruns}
    assert all(i < 90 for i in rerun_at), rerun_at  # the young series' early suspects only


@pytest.mark.parametrize(("levels", "arrival"), [
    # Arriving in order, a 7 % dip among the fast commits.
    ([101.0, 101.0, 93.0, 98.0, 205.0, 207.0, 203.0], (0, 1, 2, 3, 4, 5, 6)),
    # Out of order (backfilled commits and pushed heads), fast commits a percent or so apart.
    ([97.8, 98.0, 100.8, 99.2, 208.2, 199.8, 201.5], (2, 1, 3, 0, 4, 5, 6)),
])
def test_a_step_after_the_first_points_of_a_new_series_is_suspected_at_its_own_commit(
        store, make_settings, levels: list[float], arrival: tuple[int, ...]) -> None:
    """The first points of a new series sit a few percent apart, as a real host's do; the
    doubling after them must be the suspect, its last good commit the one before it, and its
    re-run queued. (Against the scale of the first two or three points alone, a fraction of a
    percent, the step used to be placed on the wobble: a re-run of a fast commit, and the
    doubling never named.)"""
    settings = make_settings()
    bench = store.benchmark("loop")
    jobs = [store.measured_commit({bench: level}, finished=False) for level in levels]
    for k in arrival:
        store.finish(jobs[k])
        analyze_job(settings, jobs[k])
    step, last_fast = store.shas[4], store.shas[3]
    assert store.verdict(bench, step) == Verdict.SUSPECT
    with session_scope(store.factory) as s:
        reruns = [(j.commit.sha, j.params.get("parent_sha")) for j in
                  s.scalars(select(Job).where(Job.kind == JobKind.CONFIRM))]
        assert (step, last_fast) in reruns, reruns
