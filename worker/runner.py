"""Run one job from its id: claim it, check the commit out, run the suite pinned, validate and
store what it wrote, then hand the new points to change detection.

Every failure the benchmarked repository can cause (no ``perfhud.toml``, a suite that fails,
hangs or writes garbage) ends as a failed job with the reason and the log tail; none of them
raises out of :func:`run_job`, so the worker process lives on to take the next job.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from db.models import Job, JobKind, JobStatus
from db.results import followed_series
from db.session import run_in_transaction
from perfhud.settings import Settings
from worker import jobstate
from worker.gitrepo import GitError, cache_dir, fetch, validate_sha, worktree
from worker.pinning import Pinning
from worker.project_config import ProjectConfig, ProjectConfigError, load_project_config
from worker.results_reader import Measurement, ResultsRejected, read_results
from worker.results_store import store_measurements
from worker.store_access import session_factory
from worker.subprocess_run import read_tail, run_pinned, suite_environment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerContext:
    """Who runs jobs: the host's row, its fingerprint and the cores benchmarks may use."""

    settings: Settings
    host_name: str
    host_id: int
    fingerprint: str
    pinning: Pinning


@dataclass(frozen=True)
class JobSpec:
    job_id: int
    kind: JobKind
    suite: str
    sha: str
    repository_id: int
    full_name: str
    clone_url: str
    params: dict[str, Any]


@dataclass
class JobOutcome:
    status: JobStatus
    error: str | None = None
    measurements: tuple[Measurement, ...] = ()
    log_tail: str | None = None
    command: str | None = None
    summary: dict[str, Any] | None = None
    retry: bool = False  # a transient failure: give the job back instead of failing it
    extra: dict[str, Any] = field(default_factory=dict)


class SuiteFailed(Exception):
    """The suite could not produce results; the message is what the job's error says."""


def _load_spec(settings: Settings, job_id: int) -> JobSpec:
    def work(session):  # type: ignore[no-untyped-def]
        job = session.get(Job, job_id)
        repo = job.commit.repository
        return JobSpec(job.id, job.kind, job.suite, job.commit.sha, repo.id, repo.full_name, repo.clone_url,
                       dict(job.params or {}))

    return run_in_transaction(session_factory(settings.database_url), work)


def effective_timeout(config: ProjectConfig, settings: Settings) -> int:
    """The suite's own limit, kept under the job's soft limit so that the suite is killed (and
    the reason recorded) by us before Celery's limit interrupts the job."""
    margin = min(30, max(1, settings.job_soft_time_limit // 10))
    return max(1, min(config.timeout, settings.job_soft_time_limit - margin))


def run_suite(ctx: WorkerContext, checkout: Path, suite: str, workdir: Path, log_path: Path,
              label: str = "results") -> tuple[Path, str]:
    """Run the checkout's setup and suite; return the results file and the command that ran."""
    try:
        config: ProjectConfig = load_project_config(checkout)
    except ProjectConfigError as exc:
        raise SuiteFailed(str(exc)) from None
    results = workdir / f"{label}.json"
    values = {"results": str(results), "suite": suite, "cores": ctx.pinning.spec,
              "threads": str(ctx.pinning.threads)}
    env = suite_environment(os.environ, config.env)
    limit = effective_timeout(config, ctx.settings)
    budget = float(limit)
    steps = [("setup", config.setup)] if config.setup else []
    steps.append(("suite", config.command))
    command = ""
    for step, argv in steps:
        outcome, command = run_pinned(config.render(argv, values), cwd=checkout, env=env, pinning=ctx.pinning,
                                      timeout=budget, log_path=log_path)
        budget -= outcome.seconds
        if outcome.timed_out:
            raise SuiteFailed(f"the {step} command did not finish within its time limit ({limit} s) and was killed")
        if outcome.returncode != 0 and (step == "setup" or not results.exists()):
            raise SuiteFailed(f"the {step} command exited with status {outcome.returncode}; see the log tail")
        if budget <= 0 and step == "setup":
            raise SuiteFailed("the setup command used up the whole time limit")
    return results, command


def _measure(ctx: WorkerContext, spec: JobSpec, workdir: Path, log_path: Path) -> JobOutcome:
    git_dir = cache_dir(ctx.settings.data_dir, spec.repository_id)
    try:
        fetch(git_dir, spec.clone_url, want=spec.sha)
    except GitError as exc:
        return JobOutcome(JobStatus.FAILED, error=f"fetching {spec.full_name} failed: {exc}", retry=True)
    with worktree(git_dir, spec.sha, workdir / "checkout") as checkout:
        try:
            results_path, command = run_suite(ctx, checkout, spec.suite, workdir, log_path)
            results = read_results(results_path)
        except (SuiteFailed, ResultsRejected) as exc:
            prefix = "" if isinstance(exc, SuiteFailed) else "results file rejected: "
            return JobOutcome(JobStatus.FAILED, error=prefix + str(exc), log_tail=read_tail(log_path))
    summary: dict[str, Any] = {
        "benchmarks": len(results.measurements),
        "series": followed_series(results.measurements),
    }
    if results.failures:
        summary["failed_benchmarks"] = dict(results.failures)
    if not results.measurements:
        first = next(iter(results.failures.items()), None)
        reason = f"; first failure: {first[0]}: {first[1][:300]}" if first else ""
        return JobOutcome(JobStatus.FAILED, error=f"no benchmark produced a result{reason}",
                          log_tail=read_tail(log_path), command=command, summary=summary)
    return JobOutcome(JobStatus.SUCCEEDED, measurements=results.measurements, log_tail=read_tail(log_path),
                      command=command, summary=summary)


def _execute(ctx: WorkerContext, spec: JobSpec, workdir: Path) -> JobOutcome:
    log_path = workdir / "suite.log"
    try:
        validate_sha(spec.sha)
        if spec.kind == JobKind.CONFIRM:
            from worker.confirmation import run_confirmation

            return run_confirmation(ctx, spec, workdir, log_path)
        return _measure(ctx, spec, workdir, log_path)
    except SoftTimeLimitExceeded:
        return JobOutcome(JobStatus.FAILED, log_tail=read_tail(log_path),
                          error=f"the job exceeded its soft time limit ({ctx.settings.job_soft_time_limit} s)")
    except Exception as exc:  # a bug here must fail one job, not the worker
        log.exception("job %s: unexpected error", spec.job_id)
        return JobOutcome(JobStatus.FAILED, error=f"internal error: {type(exc).__name__}: {exc}",
                          log_tail=read_tail(log_path))


def _record(ctx: WorkerContext, held: jobstate.Claim, outcome: JobOutcome) -> bool:
    settings = ctx.settings

    def work(session) -> bool:  # type: ignore[no-untyped-def]
        if outcome.retry:
            return jobstate.requeue(session, held, outcome.error or "transient failure", settings.job_max_attempts)
        if not jobstate.finish(session, held, outcome.status, error=outcome.error, log_tail=outcome.log_tail,
                               command=outcome.command, summary=outcome.summary):
            log.warning("job %s was taken over by another worker; discarding this attempt's results", held.job_id)
            session.rollback()
            return False
        if outcome.measurements:
            store_measurements(session, session.get(Job, held.job_id), outcome.measurements)
        return True

    return run_in_transaction(session_factory(settings.database_url), work)


def _after_success(settings: Settings, spec: JobSpec) -> None:
    """Change detection (or a confirmation's decision); never undoes the stored results."""
    if spec.kind == JobKind.CONFIRM:
        from worker.confirmation import apply_confirmation

        try:
            decided = apply_confirmation(settings, spec.job_id)
            log.info("job %s: confirmation verdicts %s", spec.job_id, decided)
        except Exception:
            log.exception("job %s: deciding the confirmation failed; its runs are kept in the job summary",
                          spec.job_id)
        return
    from worker.analysis import analyze_job

    analyze_job(settings, spec.job_id)


def run_job(ctx: WorkerContext, job_id: int) -> JobStatus | None:
    """Run job ``job_id`` if it is ours to run; return its final status, or None if skipped."""
    settings = ctx.settings
    factory = session_factory(settings.database_url)
    held = run_in_transaction(
        factory, lambda s: jobstate.claim(s, job_id, ctx.host_id, ctx.fingerprint, settings.job_max_attempts)
    )
    if held is None:
        return None
    spec = _load_spec(settings, job_id)
    log.info("job %s: %s %s of %s@%s on %s (attempt %s)", job_id, spec.kind.value, spec.suite, spec.full_name,
             spec.sha[:12], ctx.host_name, held.attempt)
    from worker.github_status import report_job_status

    report_job_status(settings, spec, "pending")
    workdir = settings.data_dir / "jobs" / f"{job_id}-{held.attempt}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    try:
        outcome = _execute(ctx, spec, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not _record(ctx, held, outcome):
        return None
    if outcome.retry:
        from worker.publish import publish_jobs

        publish_jobs(settings, [job_id])
        return JobStatus.QUEUED
    log.info("job %s: %s%s", job_id, outcome.status.value, f" ({outcome.error})" if outcome.error else "")
    if outcome.status == JobStatus.SUCCEEDED:
        _after_success(settings, spec)
    report_job_status(settings, spec, "success" if outcome.status == JobStatus.SUCCEEDED else "failure")
    return outcome.status
