"""Faults and bad input with the real parts: a Redis restart mid-backfill, a PostgreSQL
connection dropped while results are written, and results files that must be refused."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event, func, select

from db.models import Commit, Host, Job, JobKind, JobStatus, Repository, Result
from db.session import make_engine, make_session_factory, run_in_transaction, session_scope
from perfhud.settings import load_settings
from worker import jobstate
from worker.backfill import backfill
from worker.repos import add_repository
from worker.results_reader import read_results
from worker.runner import JobOutcome, WorkerContext, _record
from worker.store_access import session_factory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A real redis-server of this test's own, so that restarting it disturbs nobody else."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_redis_restart_during_a_backfill_loses_and_repeats_nothing(
    postgres_url, private_redis, git_repo, workers, kit, tmp_path
) -> None:
    from tests.worker.conftest import Stack  # noqa: PLC0415 - the stack type, built by hand here

    stack = Stack("redis", {
        "PERFHUD_DATA_DIR": str(tmp_path / "data"),
        "PERFHUD_DATABASE_URL": postgres_url,
        "PERFHUD_BROKER_URL": private_redis.url,
        "PERFHUD_JOB_SOFT_TIME_LIMIT": "60",
        "PERFHUD_JOB_TIME_LIMIT": "90",
        "PERFHUD_OUTBOX_STALE_SECONDS": "3",
    })
    repo_path, shas = git_repo([kit.CommitSpec(samples=3) for _ in range(20)])
    settings = stack.settings
    add_repository(settings, "acme/tiny", str(repo_path))
    job_ids = backfill(settings, "acme/tiny", last=20)
    assert len(job_ids) == 20
    factory = make_session_factory(make_engine(settings.database_url))

    def statuses() -> dict[JobStatus, int]:
        with session_scope(factory) as s:
            rows = s.execute(select(Job.status, func.count()).where(Job.kind == JobKind.REGULAR)
                             .group_by(Job.status)).all()
        return {status: n for status, n in rows}

    worker = workers.start(stack)
    kit.wait_for(lambda: statuses().get(JobStatus.SUCCEEDED, 0) >= 3, 120, "the first jobs to finish", worker)
    private_redis.stop()  # every queued message is gone with it (no persistence)
    time.sleep(2)
    private_redis.start()
    kit.wait_for(lambda: statuses().get(JobStatus.SUCCEEDED, 0) == 20, 240, "all 20 jobs to succeed", worker)
    # The messages died with Redis; the jobs ran because the outbox sweeper sent them again.
    assert "sweeper republished" in worker.log()

    with session_scope(factory) as s:
        # Follow-ups (a re-run of a suspect) may exist too; the backfill's own jobs are these.
        jobs = s.scalars(select(Job).where(Job.kind == JobKind.REGULAR)).all()
        assert len(jobs) == 20
        assert all(j.status == JobStatus.SUCCEEDED for j in jobs), [(j.id, j.status, j.error) for j in jobs]
        regular = select(Job.id).where(Job.kind == JobKind.REGULAR)
        per_job = dict(s.execute(select(Result.job_id, func.count()).where(Result.job_id.in_(regular))
                                 .group_by(Result.job_id)).all())
        per_commit = s.execute(
            select(Result.commit_id, Result.benchmark_id, func.count()).where(Result.job_id.in_(regular))
            .group_by(Result.commit_id, Result.benchmark_id)
        ).all()
    assert per_job == {j.id: 2 for j in jobs}  # eager + tuned, once each
    assert {n for _, _, n in per_commit} == {1}  # no commit measured twice


_BAD_RESULTS = {
    "malformed": "open(out, 'w').write('{\"name\": \"x\", \"environ\": {}, ')",
    "huge": "f = open(out, 'w'); f.write('{\"name\": \"' + 'x' * (100 * 1024 * 1024) + '\"}')",
    "nan": "json.dump(doc(float('nan')), open(out, 'w'))",
    "negative": "json.dump(doc(-1.5), open(out, 'w'))",
}
_EXPECTED_MESSAGE = {
    "malformed": "not JSON",
    "huge": "exceeds the limit",
    "nan": "samples[0]",
    "negative": "negative value -1.5",
}


def _bad_results_repo(root: Path, kinds: list[str]) -> tuple[Path, list[str]]:
    repo = root / "bad-upstream"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q", "-b", "main")
    (repo / "perfhud.toml").write_text('[benchmark]\ncommand = ["python", "bad.py", "{results}"]\ntimeout = 60\n')
    shas = []
    for kind in kinds:
        (repo / "bad.py").write_text(textwrap.dedent(f"""\
            import json, sys
            out = sys.argv[1]
            def doc(value):
                entry = {{"model": "m", "mode": "eval", "precision": "fp32", "variant": "eager", "family": "toy",
                          "metric": "latency", "unit": "ms", "direction": "lower", "samples": [value, 1.0],
                          "status": "ok"}}
                return {{"name": "bad", "environ": {{}}, "metrics": {{}}, "results": [entry]}}
            {_BAD_RESULTS[kind]}
            """))
        git("add", "-A")
        git("commit", "-q", "-m", f"writes a {kind} results file")
        shas.append(git("rev-parse", "HEAD"))
    return repo, shas


def test_bad_results_files_are_refused_and_nothing_is_stored(stack, workers, kit, tmp_path) -> None:
    kinds = list(_BAD_RESULTS)
    repo, shas = _bad_results_repo(tmp_path, kinds)
    settings = stack.settings
    add_repository(settings, "acme/bad", str(repo))
    job_ids = backfill(settings, "acme/bad", last=len(kinds))
    factory = make_session_factory(make_engine(settings.database_url))

    def jobs() -> list[Job]:
        with session_scope(factory) as s:
            return list(s.scalars(select(Job).order_by(Job.id)))

    worker = workers.start(stack)
    kit.wait_for(lambda: all(j.status.finished for j in jobs()), 180, "every job to finish", worker)
    for kind, job in zip(kinds, jobs(), strict=True):
        assert job.status == JobStatus.FAILED, (kind, job.status)
        assert _EXPECTED_MESSAGE[kind] in (job.error or ""), (kind, job.error)
    with session_scope(factory) as s:
        assert s.scalar(select(func.count()).select_from(Result)) == 0
    assert worker.alive()
    assert job_ids == [j.id for j in jobs()]


def test_results_write_retries_after_the_connection_drops(postgres_url, tmp_path) -> None:
    settings = load_settings({"PERFHUD_DATA_DIR": str(tmp_path / "data"), "PERFHUD_DATABASE_URL": postgres_url})
    factory = session_factory(settings.database_url)
    with session_scope(factory) as s:
        repo = Repository(full_name="acme/tiny", clone_url=str(tmp_path))
        s.add(repo)
        s.flush()
        commit = Commit(repository_id=repo.id, sha="a" * 40)
        host = Host(name="h1", fingerprint="fp")
        s.add_all([commit, host])
        s.flush()
        job = Job(commit_id=commit.id, suite="ci")
        s.add(job)
        s.flush()
        job_id, host_id = job.id, host.id
    held = run_in_transaction(factory, lambda s: jobstate.claim(s, job_id, host_id, "fp", 3))
    assert held is not None

    results_file = tmp_path / "results.json"
    entries = [
        {"model": f"m{i}", "mode": "eval", "precision": "fp32", "variant": "eager", "family": "toy",
         "metric": "latency", "unit": "ms", "direction": "lower", "samples": [1.0, 1.1, 0.9], "status": "ok"}
        for i in range(5)
    ]
    results_file.write_text(json.dumps({"name": "t", "environ": {}, "metrics": {}, "results": entries}))
    outcome = JobOutcome(JobStatus.SUCCEEDED, measurements=read_results(results_file).measurements)

    engine = factory.kw["bind"]
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    dropped = []

    @event.listens_for(engine, "before_cursor_execute")
    def drop_mid_write(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not dropped and statement.lstrip().upper().startswith("INSERT INTO RESULT"):
            pid = conn.connection.dbapi_connection.info.backend_pid
            with admin.connect() as c:
                c.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            dropped.append(pid)

    try:
        ctx = WorkerContext(settings=settings, host_name="h1", host_id=host_id, fingerprint="fp", pinning=None)  # type: ignore[arg-type]
        assert _record(ctx, held, outcome)
    finally:
        event.remove(engine, "before_cursor_execute", drop_mid_write)
        admin.dispose()
    assert dropped, "the fault was never injected"
    with session_scope(factory) as s:
        assert s.get(Job, job_id).status == JobStatus.SUCCEEDED
        assert s.scalar(select(func.count()).select_from(Result)) == 5  # all of it, once
