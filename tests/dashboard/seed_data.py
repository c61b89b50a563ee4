"""A small store with known verdicts, and the secrets the dashboard tests use.

The seeded store holds one repository, two hosts, three benchmarks and twelve commits on
``main``; commit 8 is a confirmed regression of ``resnet50 optlib`` on host-a with an open
alert, commit 10 a suspect, commit 5 an improvement; commit 11 has a failed job and commit 12
a queued one, so the HUD shows every colour.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.ingest import CommitInfo, record_push
from db.models import (
    Alert, AlertDirection, AlertGroup, Benchmark, Direction, Host, Job, JobStatus, Repository, Result, Verdict,
)

WEBHOOK_SECRET = "It's a Secret to Everybody"
API_TOKEN = "test-token-for-dashboard-writes"
REPO = "acme/widgets"
EVIL_MESSAGE = "<script>window.pwned=1</script> speed up conv\n\nbody with <b>tags</b>"

REGRESSION_COMMIT = 8
SUSPECT_COMMIT = 10
IMPROVEMENT_COMMIT = 5
FAILED_COMMIT = 11
QUEUED_COMMIT = 12
N_COMMITS = 12


def fake_sha(i: int) -> str:
    return hashlib.sha1(f"commit-{i}".encode()).hexdigest()


@dataclass
class Seed:
    repository_id: int
    hosts: dict[str, int]
    benchmarks: dict[str, int]  # "resnet50-optlib", "resnet50-eager", "bert-optlib"
    shas: list[str]  # index 0 is commit 1 (oldest)
    commit_ids: list[int]
    alert_group_id: int
    alert_id: int
    succeeded_job_id: int
    failed_job_id: int

    def sha(self, n: int) -> str:
        return self.shas[n - 1]


def _samples(level: float, i: int) -> list[float]:
    return [round(level * (1 + d), 6) for d in (-0.01, -0.004, 0.0, 0.003, 0.012 + 0.001 * (i % 3))]


def seed_store(factory: sessionmaker[Session]) -> Seed:
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with factory() as session:
        repo = Repository(full_name=REPO, clone_url="https://github.com/acme/widgets.git", default_branch="main")
        session.add(repo)
        hosts = [
            Host(name="host-a", cpu_model="AMD EPYC 9R14", isa=["avx512f", "avx512_bf16"], cores="2-7", threads=6,
                 torch_version="2.13.0", kernel="6.1.0", fingerprint="a" * 16),
            Host(name="host-b", cpu_model="Intel Xeon 8488C", isa=["avx512f", "amx_bf16"], cores="0-3", threads=4,
                 torch_version="2.13.0", kernel="6.1.0", fingerprint="b" * 16),
        ]
        session.add_all(hosts)
        benches = {
            "resnet50-optlib": Benchmark(model="resnet50", mode="eval", precision="fp32", variant="optlib",
                                         metric="latency_p50", unit="ms", direction=Direction.LOWER, family="cnn"),
            "resnet50-eager": Benchmark(model="resnet50", mode="eval", precision="fp32", variant="eager",
                                        metric="latency_p50", unit="ms", direction=Direction.LOWER, family="cnn"),
            "bert-optlib": Benchmark(model="bert_base", mode="eval", precision="bf16", variant="optlib",
                                     metric="latency_p50", unit="ms", direction=Direction.LOWER, family="transformer"),
        }
        session.add_all(benches.values())
        session.flush()
        infos = []
        for i in range(1, N_COMMITS + 1):
            message = EVIL_MESSAGE if i == 3 else f"commit number {i}\n\ndetails"
            infos.append(CommitInfo(
                sha=fake_sha(i), parents=(fake_sha(i - 1),) if i > 1 else (), author=f"dev{i % 3}",
                message=message, committed_at=t0 + timedelta(hours=i),
            ))
        record = record_push(session, repo, branch="main", commits=infos, source="backfill", suites=["ci"])
        commits = record.commits
        new_ids = [new.id for new in record.new_jobs]
        jobs = {job.commit_id: job for job in session.scalars(select(Job).where(Job.id.in_(new_ids)))}
        succeeded_job_id = failed_job_id = 0
        for n, commit in enumerate(commits, start=1):
            job = jobs[commit.id]
            if n == QUEUED_COMMIT:
                continue  # stays queued: grey cells
            job.host_id = hosts[0].id
            if n == FAILED_COMMIT:
                job.status = JobStatus.FAILED
                job.error = "benchmark process exited with signal 9"
                job.log_tail = "Traceback <most recent call last>\nMemoryError"
                failed_job_id = job.id
                continue
            job.status = JobStatus.SUCCEEDED
            job.log_tail = "ran 3 benchmarks"
            succeeded_job_id = job.id
            for key, bench in benches.items():
                level = {"resnet50-optlib": 10.0, "resnet50-eager": 14.0, "bert-optlib": 5.0}[key]
                verdict, change = Verdict.NO_CHANGE, 0.2
                if key == "resnet50-optlib" and n >= REGRESSION_COMMIT:
                    level *= 1.25
                    if n == REGRESSION_COMMIT:
                        verdict, change = Verdict.REGRESSION, 25.0
                if key == "bert-optlib" and n == IMPROVEMENT_COMMIT:
                    verdict, change = Verdict.IMPROVEMENT, -12.0
                if key == "bert-optlib" and n == SUSPECT_COMMIT:
                    verdict, change = Verdict.SUSPECT, 6.0
                samples = _samples(level, n)
                session.add(Result(
                    job_id=job.id, benchmark_id=bench.id, repository_id=repo.id, commit_id=commit.id,
                    host_id=hosts[0].id, samples=samples, n=len(samples), median=sorted(samples)[2],
                    mean=sum(samples) / len(samples), stdev=0.01 * level, p90=max(samples), p99=max(samples),
                    verdict=verdict, change_pct=change, confidence=0.99,
                ))
        regressed = commits[REGRESSION_COMMIT - 1]
        group = AlertGroup(repository_id=repo.id, suspect_commit_id=regressed.id, push_id=record.push.id)
        session.add(group)
        session.flush()
        alert = Alert(
            group_id=group.id, repository_id=repo.id, benchmark_id=benches["resnet50-optlib"].id,
            host_id=hosts[0].id, suspect_commit_id=regressed.id, last_good_commit_id=commits[REGRESSION_COMMIT - 2].id,
            direction=AlertDirection.REGRESSION, change_pct=25.0, confidence=0.99,
        )
        session.add(alert)
        session.commit()
        return Seed(
            repository_id=repo.id, hosts={h.name: h.id for h in hosts},
            benchmarks={k: b.id for k, b in benches.items()}, shas=[c.sha for c in commits],
            commit_ids=[c.id for c in commits], alert_group_id=group.id, alert_id=alert.id,
            succeeded_job_id=succeeded_job_id, failed_job_id=failed_job_id,
        )



def auth(token: str = API_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
