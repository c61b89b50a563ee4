"""Confirmation runs: the suspect commit and its parent re-run on the host that saw the change,
interleaved (parent, suspect, suspect, parent, ...), so that a drift of the host during the run
falls on both sides alike. The detector's re-run test then decides each suspect series; a
regression or improvement it confirms opens an alert, a change it does not see withdraws the
suspect. The runs are evidence, not new points of the series: they are kept in the job's
summary, and the series' results are only re-labelled.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AlertState, Benchmark, Commit, Direction, Job, JobStatus, Result, Verdict
from db.results import detectable
from db.session import run_in_transaction
from worker import detection
from worker.analysis import baseline_benchmark
from worker.gitrepo import GitError, cache_dir, fetch, validate_sha, worktree
from worker.results_reader import ResultsRejected, read_results
from worker.store_access import session_factory
from worker.subprocess_run import read_tail

if TYPE_CHECKING:
    from worker.runner import JobOutcome, JobSpec, WorkerContext

log = logging.getLogger(__name__)

ROUNDS = 3  # runs per side, alternating; the runs are the re-run's units (see detection.confirm)


def _run_order(rounds: int) -> list[str]:
    order: list[str] = []
    for r in range(rounds):
        order += ["parent", "suspect"] if r % 2 == 0 else ["suspect", "parent"]
    return order


def run_confirmation(ctx: "WorkerContext", spec: "JobSpec", workdir: Path, log_path: Path) -> "JobOutcome":
    from worker.runner import JobOutcome, SuiteFailed, run_suite

    parent_sha = validate_sha(str(spec.params.get("parent_sha", "")))
    git_dir = cache_dir(ctx.settings.data_dir, spec.repository_id)
    try:
        fetch(git_dir, spec.clone_url, want=spec.sha)
        fetch(git_dir, spec.clone_url, want=parent_sha)
    except GitError as exc:
        return JobOutcome(JobStatus.FAILED, error=f"fetching {spec.full_name} failed: {exc}", retry=True)
    runs: dict[str, dict[str, list[list[float]]]] = {"parent": defaultdict(list), "suspect": defaultdict(list)}
    command = ""
    with worktree(git_dir, parent_sha, workdir / "parent") as parent_dir, \
            worktree(git_dir, spec.sha, workdir / "suspect") as suspect_dir:
        checkouts = {"parent": parent_dir, "suspect": suspect_dir}
        for i, side in enumerate(_run_order(int(spec.params.get("rounds", ROUNDS)))):
            try:
                path, command = run_suite(ctx, checkouts[side], spec.suite, workdir, log_path, label=f"{i}-{side}")
                results = read_results(path)
            except (SuiteFailed, ResultsRejected) as exc:
                return JobOutcome(JobStatus.FAILED, error=f"{side} run {i + 1}: {exc}", log_tail=read_tail(log_path))
            for m in results.measurements:
                runs[side][m.name].append(list(m.samples))
    summary = {"parent_sha": parent_sha, "runs": {side: {k: v for k, v in by.items()} for side, by in runs.items()}}
    return JobOutcome(JobStatus.SUCCEEDED, log_tail=read_tail(log_path), command=command, summary=summary)


def decide(parent_runs: list[list[float]], suspect_runs: list[list[float]], *, parent_sha: str, suspect_sha: str,
           lower_is_better: bool, expected_change_pct: float | None = None) -> detection.Verdict:
    """The detector's re-run test on one series: every run's samples, suspect against parent."""
    result = detection.confirm(suspect_runs, parent_runs, expected_change_pct=expected_change_pct,
                               lower_is_better=lower_is_better)
    return detection.confirmation_verdict(result, suspect_sha, last_good_commit=parent_sha)


def apply_confirmation(settings: Any, job_id: int) -> dict[str, str]:
    """Turn a finished confirmation's runs into verdicts and alerts; return name -> state."""

    def work(session: Session) -> dict[str, str]:
        job = session.get(Job, job_id)
        if job is None or job.status != JobStatus.SUCCEEDED or not job.summary:
            return {}
        for bench_id in job.params.get("benchmark_ids", []):
            bench = session.get(Benchmark, bench_id)
            if bench is not None:
                decide_series(session, job, bench)
        return dict(job.summary.get("verdicts", {}))

    return run_in_transaction(session_factory(settings.database_url), work)


def decide_series(session: Session, job: Job, bench: Benchmark) -> str:
    """Decide ``bench``'s series at the suspect from finished confirmation ``job``'s runs.

    Labels the suspect's point, opens a confirmed alert when the re-run agrees, records the
    state in the job's summary and returns it. The runs cover the whole suite, so a series
    that became suspect at this commit after the re-run finished is decided from them too.
    """
    from worker.analysis import open_alert

    runs = job.summary.get("runs", {})
    parent_sha = job.summary.get("parent_sha")
    baseline = baseline_benchmark(session, bench)
    baseline_name = baseline.name if baseline is not None else None
    parent_runs = _relative_to_baseline(runs.get("parent", {}), bench.name, baseline_name)
    suspect_runs = _relative_to_baseline(runs.get("suspect", {}), bench.name, baseline_name)
    if not parent_runs or not suspect_runs:
        state = "not measured"
    else:
        suspect_result = _suspect_result(session, job, bench)
        # One-sided: the re-run must agree with the direction the stream saw (two-sided when
        # the point has no size, e.g. it was labelled no_change before being suspected again).
        expected = suspect_result.change_pct if suspect_result is not None else None
        verdict = decide(parent_runs, suspect_runs, parent_sha=parent_sha, suspect_sha=job.commit.sha,
                         lower_is_better=bench.direction == Direction.LOWER, expected_change_pct=expected or None)
        state = verdict.state
        if suspect_result is not None:
            _label(suspect_result, verdict)
        if verdict.is_alert:
            parent = session.scalars(select(Commit).where(Commit.repository_id == job.commit.repository_id,
                                                          Commit.sha == parent_sha)).one_or_none()
            open_alert(session, repository_id=job.commit.repository_id, benchmark_id=bench.id,
                       host_id=job.host_id, suspect=job.commit, last_good=parent, state=verdict.state,
                       change_pct=verdict.change_pct, confidence=verdict.confidence,
                       alert_state=AlertState.CONFIRMED)
    job.summary = {**job.summary, "verdicts": {**job.summary.get("verdicts", {}), bench.name: state}}
    return state


def _relative_to_baseline(by_name: dict[str, list[list[float]]], name: str,
                          baseline_name: str | None) -> list[list[float]] | None:
    """Each run's samples as ratios to the baseline measured in the same run.

    The stream follows the ratio to the same job's baseline; the re-run must judge the same
    quantity, and the ratio cancels what a busy host does to both within one run. A run's
    samples are scaled so that their median is the run's ratio as the stream's point_level
    takes it (`detection.baseline_log_ratio`), their spread kept.
    """
    runs = by_name.get(name)
    base_runs = by_name.get(baseline_name) if baseline_name else None
    if not runs or not base_runs or len(base_runs) != len(runs):
        return runs
    out = []
    for samples, base in zip(runs, base_runs, strict=True):
        if not (samples and base and detectable(samples) and detectable(base)):
            return runs
        scale = statistics.median(samples) / math.exp(detection.baseline_log_ratio(samples, base))
        out.append([v / scale for v in samples])
    return out


def _suspect_result(session: Session, job: Job, bench: Benchmark) -> Result | None:
    """The suspect commit's own point in the series (from its regular or bisect job)."""
    return session.scalars(
        select(Result).join(Job, Job.id == Result.job_id)
        .where(Result.benchmark_id == bench.id, Result.commit_id == job.commit_id, Result.host_id == job.host_id,
               Job.host_fingerprint == job.host_fingerprint, Job.kind != job.kind)
        .order_by(Result.id.desc())
    ).first()


def _label(result: Result, verdict: detection.Verdict) -> None:
    """Write the re-run's word on the suspect's point."""
    result.verdict = Verdict(verdict.state)
    result.change_pct = verdict.change_pct if verdict.state != Verdict.NO_CHANGE else None
    result.confidence = verdict.confidence if verdict.state != Verdict.NO_CHANGE else None
