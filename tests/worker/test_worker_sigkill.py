"""Show: SIGKILL to the worker in the middle of a job; after a restart the job completes once,
no result is stored twice, and a redelivered message changes nothing."""

from __future__ import annotations

import os
import signal

from sqlalchemy import func, select

from db.models import JobStatus, Result
from db.session import make_engine, make_session_factory, session_scope
from worker.backfill import backfill
from worker.publish import publish_jobs, send_job_messages
from worker.repos import add_repository


def test_sigkill_mid_job_then_restart_completes_once(stack, git_repo, workers, kit, tmp_path) -> None:
    marker = tmp_path / "marker"
    marker.mkdir()
    repo_path, shas = git_repo([kit.CommitSpec(marker_dir=marker)])
    settings = stack.settings
    add_repository(settings, "acme/tiny", str(repo_path))
    (job_id,) = backfill(settings, "acme/tiny", last=1)
    job = kit.job_reader(settings, job_id)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)

    started = marker / "started"
    first = workers.start(stack)
    kit.wait_for(lambda: started.exists() and started.read_text().strip(), 60, "the suite to start", first)
    assert job().status == JobStatus.RUNNING and job().attempts == 1
    suite_pid = int(started.read_text().split()[0])

    os.kill(first.pid, signal.SIGKILL)  # the worker's main process, as an OOM kill or power loss would
    first.proc.wait(timeout=10)
    # Its pool process and the suite die with it: nothing keeps running on the benchmark cores.
    kit.wait_for(lambda: not kit.pid_alive(suite_pid), 15, "the orphaned suite to die")
    assert job().status == JobStatus.RUNNING  # nobody has noticed yet

    (marker / "release").touch()
    second = workers.start(stack)
    kit.wait_for(lambda: job().status.finished, 60, "the job to finish after the restart", second)
    done = job()
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.attempts == 2
    assert len(started.read_text().split()) == 2  # the suite ran twice: once killed, once complete

    def result_count() -> int:
        with session_scope(factory) as s:
            return s.scalar(select(func.count()).select_from(Result).where(Result.job_id == job_id))

    assert result_count() == 2  # two benchmarks (eager and tuned), each stored once

    # A duplicate message (Redis redelivering after its visibility timeout, the sweeper
    # republishing) finds the job done and adds nothing.
    assert publish_jobs(settings, [job_id]) == 0  # only queued jobs are published ...
    assert send_job_messages(settings, [(job_id, "bench.any")]) == [job_id]  # ... but suppose one arrives
    kit.wait_for(lambda: "has nothing to do" in second.log(), 30, "the duplicate delivery to be dropped", second)
    assert result_count() == 2
    assert job().attempts == 2
    engine.dispose()
