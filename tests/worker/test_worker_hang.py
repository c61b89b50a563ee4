"""Show: a job whose suite hangs is killed at its limit, fails with the reason, and the worker
takes the next job. Also: a commit without perfhud.toml fails its job, not the worker."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Job, JobStatus, Result
from db.session import make_engine, make_session_factory, session_scope
from worker.backfill import backfill
from worker.repos import add_repository


def test_hung_suite_is_killed_and_next_job_runs(stack, git_repo, workers, kit, tmp_path) -> None:
    marker = tmp_path / "marker"
    marker.mkdir()
    repo_path, shas = git_repo([
        kit.CommitSpec(hang=True, timeout=3, marker_dir=marker),
        kit.CommitSpec(),
    ])
    settings = stack.settings
    add_repository(settings, "acme/tiny", str(repo_path))
    hung_id, next_id = backfill(settings, "acme/tiny", last=2)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)

    def jobs() -> dict[int, Job]:
        with session_scope(factory) as s:
            return {j.id: j for j in s.scalars(select(Job))}

    worker = workers.start(stack)
    kit.wait_for(lambda: all(j.status.finished for j in jobs().values()), 90, "both jobs to finish", worker)
    hung, after = jobs()[hung_id], jobs()[next_id]
    assert hung.status == JobStatus.FAILED
    assert hung.error == "the suite command did not finish within its time limit (3 s) and was killed"
    assert hung.attempts == 1  # a deterministic failure is not retried
    assert hung.log_tail is not None and "hang.py" in hung.log_tail
    hung_pid = int((marker / "hung").read_text())
    assert not kit.pid_alive(hung_pid)  # the whole process group was killed
    assert after.status == JobStatus.SUCCEEDED, after.error
    assert worker.alive()
    with session_scope(factory) as s:
        assert s.scalars(select(Result).where(Result.job_id == hung_id)).first() is None
    engine.dispose()


def test_commit_without_perfhud_toml_fails_its_job(stack, git_repo, workers, kit) -> None:
    import subprocess

    repo_path, shas = git_repo([kit.CommitSpec()])
    subprocess.run(["git", "-C", str(repo_path), "rm", "-q", "perfhud.toml"], check=True)
    subprocess.run(["git", "-C", str(repo_path), "commit", "-q", "-m", "drop config"], check=True)
    settings = stack.settings
    add_repository(settings, "acme/tiny", str(repo_path))
    (job_id,) = backfill(settings, "acme/tiny", last=1)
    job = kit.job_reader(settings, job_id)

    worker = workers.start(stack)
    kit.wait_for(lambda: job().status.finished, 60, "the job to finish", worker)
    assert job().status == JobStatus.FAILED
    assert job().error == "this commit has no perfhud.toml at the repository root; nothing to run"
    assert worker.alive()
