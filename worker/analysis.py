"""After a job's results are stored: change detection on every series the job touched, the
verdicts written back to the results, alerts opened, and follow-up jobs queued.

A series is (repository, benchmark, host) restricted to results measured with the host's
current fingerprint, in commit order (commit time, then the order commits were recorded).
The detector (:mod:`worker.detection`) is pure; this module is the database edge around it:

- a **suspect** on a commit whose last good commit is its parent queues a confirmation job
  (suspect and parent re-run interleaved on the same host); one whose last good commit is
  further back (commits in between were never measured) queues a bisection job for the
  middle commit, whose result joins the series like any other point and moves the suspect;
- a **confirmed** change opens an alert, grouped with every other alert blaming the commit.

A series younger than the detector's reference window can still raise suspects (a shorter
reference, :data:`YOUNG_MIN_PRE` points, and a lower bar, :data:`YOUNG_Z_SUSPECT`, because a
noise estimate from a handful of points is itself noisy), but there the stream alone never
confirms: only a re-run does, and a false suspect costs one re-run, not an alert. Such short
references take their noise from the segment before a change, or for a new series as at least
a typical host's (`worker.detection.scan.reference_sigma`).

Points may arrive out of commit order (a bisection, a retried job): the detector is then
replayed from the new point to the newest.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.ingest import queue_job
from db.models import (Alert, AlertDirection, AlertGroup, AlertState, Benchmark, Commit, Direction, Host, Job,
                       JobKind, JobStatus, PushCommit, Result, Verdict)
from db.session import run_in_transaction
from perfhud.settings import Settings
from worker import detection
from worker.detection import DETECTOR_CONFIG
from worker.store_access import session_factory

log = logging.getLogger(__name__)

BASELINE_VARIANT = "eager"
# Verdict states as the detector names them (the same strings as db.models.Verdict's values).
NO_CHANGE, SUSPECT, REGRESSION, IMPROVEMENT = (v.value for v in Verdict)
YOUNG_MIN_PRE = 2
YOUNG_Z_SUSPECT = 2.0
YOUNG_CONFIG = dataclasses.replace(DETECTOR_CONFIG, min_pre=YOUNG_MIN_PRE,
                                   z_suspect=min(YOUNG_Z_SUSPECT, DETECTOR_CONFIG.z_suspect))
_SERIES_KINDS = (JobKind.REGULAR, JobKind.BISECT)


@dataclass
class SeriesPoint:
    result: Result
    commit: Commit
    baseline: list[float] | None

    def as_point(self) -> detection.Point:
        return detection.Point(commit=self.commit.sha, samples=list(self.result.samples),
                               baseline=self.baseline, host=None)


def baseline_benchmark(session: Session, bench: Benchmark) -> Benchmark | None:
    if bench.variant == BASELINE_VARIANT:
        return None
    return session.scalars(
        select(Benchmark).where(Benchmark.model == bench.model, Benchmark.mode == bench.mode,
                                Benchmark.precision == bench.precision, Benchmark.variant == BASELINE_VARIANT,
                                Benchmark.metric == bench.metric)
    ).one_or_none()


def load_series(session: Session, job: Job, bench: Benchmark, limit: int) -> list[SeriesPoint]:
    """The series of ``bench`` on ``job``'s host and fingerprint, oldest first, one point per commit."""
    rows = session.execute(
        select(Result, Commit)
        .join(Job, Job.id == Result.job_id)
        .join(Commit, Commit.id == Result.commit_id)
        .where(Result.repository_id == job.commit.repository_id, Result.benchmark_id == bench.id,
               Result.host_id == job.host_id, Job.host_fingerprint == job.host_fingerprint,
               Job.kind.in_(_SERIES_KINDS), Job.status == JobStatus.SUCCEEDED)
        .order_by(Commit.committed_at.desc(), Commit.id.desc(), Result.id.desc())
        .limit(limit)
    ).all()
    latest: dict[int, tuple[Result, Commit]] = {}
    for result, commit in rows:
        latest.setdefault(commit.id, (result, commit))  # the newest measurement of a commit wins
    ordered = sorted(latest.values(), key=lambda rc: (rc[1].committed_at is None, rc[1].committed_at, rc[1].id))
    base = baseline_benchmark(session, bench)
    baselines: dict[int, list[float]] = {}
    if base is not None:
        job_ids = [r.job_id for r, _ in ordered]
        for job_id, samples in session.execute(
            select(Result.job_id, Result.samples).where(Result.benchmark_id == base.id, Result.job_id.in_(job_ids))
        ):
            baselines[job_id] = list(samples)
        if any(r.job_id not in baselines for r, _ in ordered):
            baselines = {}  # a control is only useful when every point has one
    return [SeriesPoint(r, c, baselines.get(r.job_id)) for r, c in ordered]


def replay(points: Sequence[SeriesPoint], start: int, *, lower_is_better: bool) -> list[detection.Verdict]:
    """Verdicts from feeding ``points[start:]`` to the detector after ``points[:start]``."""
    changes = [p.commit.sha for p in points[:start]
               if p.result.verdict in (Verdict.REGRESSION, Verdict.IMPROVEMENT)]
    suspects = [p.commit.sha for p in points[:start] if p.result.verdict == Verdict.SUSPECT]
    open_suspect = suspects[-1] if suspects else None
    verdicts: list[detection.Verdict] = []
    for i in range(start, len(points)):
        segment_start = max((k for k, p in enumerate(points[:i]) if p.commit.sha in changes), default=0)
        young = i - segment_start < DETECTOR_CONFIG.min_pre
        config = YOUNG_CONFIG if young else DETECTOR_CONFIG
        window = [p.as_point() for p in points[max(0, i - DETECTOR_CONFIG.window + 1):i]]
        step = detection.evaluate_point(window, points[i].as_point(), lower_is_better=lower_is_better,
                                        config=config, changes=changes, open_suspect=open_suspect)
        for v in step:
            if young and v.is_alert:
                v = dataclasses.replace(v, state=SUSPECT)
            if v.state in (REGRESSION, IMPROVEMENT):
                changes.append(v.commit)
                open_suspect = None if open_suspect == v.commit else open_suspect
            elif v.state == SUSPECT:
                open_suspect = v.commit
            else:
                if v.commit in changes:  # a change withdrawn: the level went back (a host state)
                    changes.remove(v.commit)
                if v.commit == open_suspect:
                    open_suspect = None
            verdicts.append(v)
    return verdicts


def _group_for(session: Session, repository_id: int, commit: Commit) -> AlertGroup:
    group = session.scalars(select(AlertGroup).where(AlertGroup.repository_id == repository_id,
                                                     AlertGroup.suspect_commit_id == commit.id)).one_or_none()
    if group is None:
        push_id = session.scalar(select(PushCommit.push_id).where(PushCommit.commit_id == commit.id)
                                 .order_by(PushCommit.push_id.desc()).limit(1))
        group = AlertGroup(repository_id=repository_id, suspect_commit_id=commit.id, push_id=push_id)
        session.add(group)
        session.flush()
    return group


def open_alert(session: Session, *, repository_id: int, benchmark_id: int, host_id: int, suspect: Commit,
               last_good: Commit | None, state: str, change_pct: float, confidence: float,
               alert_state: AlertState = AlertState.OPEN) -> Alert:
    """Create (or refresh) the alert of one series at ``suspect``, in the commit's group."""
    alert = session.scalars(select(Alert).where(Alert.benchmark_id == benchmark_id, Alert.host_id == host_id,
                                                Alert.suspect_commit_id == suspect.id)).one_or_none()
    direction = AlertDirection.REGRESSION if state == REGRESSION else AlertDirection.IMPROVEMENT
    if alert is None:
        group = _group_for(session, repository_id, suspect)
        alert = Alert(group_id=group.id, repository_id=repository_id, benchmark_id=benchmark_id, host_id=host_id,
                      suspect_commit_id=suspect.id, last_good_commit_id=last_good.id if last_good else None,
                      direction=direction, change_pct=change_pct, confidence=confidence, state=alert_state)
        session.add(alert)
        log.warning("alert: %s %+.1f%% at %s (benchmark %s, host %s)", direction.value, change_pct,
                    suspect.sha[:12], benchmark_id, host_id)
    else:
        alert.change_pct, alert.confidence, alert.direction = change_pct, confidence, direction
        if alert.state == AlertState.OPEN:
            alert.state = alert_state
    session.flush()
    return alert


def _follow_up(settings: Settings, session: Session, job: Job, host: Host, suspect: Commit,
               last_good: Commit | None, bench: Benchmark) -> Job | None:
    """Queue the confirmation (or the bisection step) a suspect needs."""
    parents = list(suspect.parents or [])
    if last_good is None or not parents:
        return None
    if job.params.get("uploaded"):
        # Results uploaded by an external runner: no perfhud worker serves that host's queue,
        # so a re-run would wait forever. The suspect is decided by the later points instead.
        return None
    queue = host.queue
    if parents[0] == last_good.sha:
        return queue_job(session, suspect, job.suite, kind=JobKind.CONFIRM, queue=queue, priority=10,
                         dedup_key=_confirmation_key(job, host, suspect),
                         params={"parent_sha": parents[0], "benchmark_ids": [bench.id]})
    from worker.bisection import queue_bisection_step

    return queue_bisection_step(session, job, host, suspect, last_good, settings.data_dir)


def _analyze_series(settings: Settings, session: Session, job: Job, host: Host, result: Result, new_jobs: list[int]) -> None:
    bench = result.benchmark
    points = load_series(session, job, bench, limit=4 * DETECTOR_CONFIG.window)
    position = next((i for i, p in enumerate(points) if p.result.id == result.id), None)
    if position is None:
        return
    by_sha = {p.commit.sha: p for p in points}
    verdicts = replay(points, position, lower_is_better=bench.direction == Direction.LOWER)
    for v in verdicts:
        point = by_sha.get(v.commit)
        if point is None:
            continue
        point.result.verdict = Verdict(v.state)
        point.result.change_pct = v.change_pct if v.state != NO_CHANGE else None
        point.result.confidence = v.confidence if v.state != NO_CHANGE else None
        last_good = by_sha[v.last_good_commit].commit if v.last_good_commit in by_sha else None
        if v.is_alert:
            open_alert(session, repository_id=job.commit.repository_id, benchmark_id=bench.id, host_id=host.id,
                       suspect=point.commit, last_good=last_good, state=v.state, change_pct=v.change_pct,
                       confidence=v.confidence)
        elif v.state == SUSPECT:
            follow = _follow_up(settings, session, job, host, point.commit, last_good, bench)
            if follow is not None:
                new_jobs.append(follow.id)
            else:
                _join_confirmation(session, job, host, point.commit, bench)


def _confirmation_key(job: Job, host: Host, suspect: Commit) -> str:
    """One re-run per suspect commit, host, suite and host fingerprint."""
    return f"confirm:{suspect.id}:{host.id}:{job.suite}:{(job.host_fingerprint or '')[:16]}"


def _join_confirmation(session: Session, job: Job, host: Host, suspect: Commit, bench: Benchmark) -> None:
    """The re-run of this commit on this host decides this series too.

    One still to finish gets the series added to those it decides. One already finished
    decides it now from its runs, which cover the whole suite: a commit the stream suspects
    again after its re-run (a young series often does) takes the re-run's word instead of
    staying a suspect that no job will ever decide.
    """
    rerun = session.scalars(
        select(Job).where(Job.dedup_key == _confirmation_key(job, host, suspect), Job.kind == JobKind.CONFIRM)
    ).first()
    if rerun is None:
        return
    if rerun.status == JobStatus.SUCCEEDED and rerun.summary:
        from worker.confirmation import decide_series

        decide_series(session, rerun, bench)
    elif rerun.status in (JobStatus.QUEUED, JobStatus.RUNNING) and bench.id not in rerun.params.get("benchmark_ids", []):
        rerun.params = {**rerun.params, "benchmark_ids": [*rerun.params.get("benchmark_ids", []), bench.id]}


def analyze_job(settings: Settings, job_id: int) -> list[int]:
    """Run detection for every series ``job_id`` touched; publish and return follow-up job ids."""

    def work(session: Session) -> list[int]:
        job = session.get(Job, job_id)
        if job is None or job.status != JobStatus.SUCCEEDED or job.host_id is None:
            return []
        host = session.get(Host, job.host_id)
        new_jobs: list[int] = []
        followed = set((job.summary or {}).get("series", []))
        results = list(session.scalars(select(Result).where(Result.job_id == job.id).order_by(Result.id)))
        for result in results:
            if result.benchmark.name in followed:
                _analyze_series(settings, session, job, host, result, new_jobs)
        return new_jobs

    try:
        new_jobs = run_in_transaction(session_factory(settings.database_url), work)
    except Exception:  # detection must never undo stored results or kill the worker
        log.exception("change detection for job %s failed; its results are stored without verdicts", job_id)
        return []
    if new_jobs:
        from worker.publish import publish_jobs

        publish_jobs(settings, new_jobs)
    return new_jobs
