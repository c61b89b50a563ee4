"""Fixtures for the worker's tests: real git repositories, real worker processes, two stacks.

- ``stack``: the store and broker a worker and the test share, parametrized over
  "redis" (PostgreSQL + Redis, production) and "embedded" (SQLite + kombu's SQLAlchemy
  transport, the default). Each test gets its own database and Redis db (the root fixtures).
- ``git_repo``: builds a repository in a temporary folder whose commits carry a
  ``perfhud.toml`` and a tiny benchmark (a loop whose count is read from ``work.txt``), so a
  slower commit really does more work.
- ``workers``: starts ``perfhud worker`` subprocesses and kills their process groups at
  teardown, whatever the test did.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from perfhud.settings import Settings, load_settings

# A tiny suite in the results format. Two variants measured interleaved, sample by sample
# (in ABBA order):
# "eager", a fixed reference loop, and "tuned", the loop whose count a commit changes. The
# tuned variant is the primary series; the detector follows its ratio to the reference, which
# cancels the speed changes of a shared, noisy machine. CPU time of the thread, not wall time.
BENCH_SCRIPT = textwrap.dedent('''
    import json, os, statistics, sys, time
    out, n = sys.argv[1], int(sys.argv[2])
    marker = os.environ.get("BENCH_MARKER_DIR")
    if marker:
        with open(os.path.join(marker, "started"), "a") as f:
            f.write(f"{os.getpid()}\\n")
        while not os.path.exists(os.path.join(marker, "release")):
            time.sleep(0.1)
    work = int(open("work.txt").read())
    def loop(k):
        s = 0
        for i in range(k):
            s += i * i
        return s
    def timed(k):
        t = time.thread_time(); loop(k); return (time.thread_time() - t) * 1000.0
    for _ in range(3):
        loop(work); loop(60000)
    ref, tuned = [], []
    for j in range(n):
        # ABBA order: whichever loop runs second in a pair runs a few percent faster here
        # (and far more under load), so each variant takes both places equally often.
        if j % 2:
            tuned.append(timed(work)); ref.append(timed(60000))
        else:
            ref.append(timed(60000)); tuned.append(timed(work))
    def entry(variant, samples, primary):
        return {"model": "loop", "mode": "eval", "precision": "fp32", "variant": variant, "family": "toy",
                "metric": "latency", "unit": "ms", "direction": "lower", "samples": samples,
                "primary": primary, "status": "ok", "error": None}
    doc = {"name": "tiny", "environ": {"cpu_model": "test", "threads": 1},
           "metrics": {"loop-eval-fp32-eager_latency": statistics.median(ref),
                       "loop-eval-fp32-tuned_latency": statistics.median(tuned)},
           "results": [entry("eager", ref, False), entry("tuned", tuned, True)]}
    with open(out, "w") as f:
        json.dump(doc, f)
''')

HANG_SCRIPT = textwrap.dedent('''
    import os, sys, time
    with open(os.path.join(os.environ["BENCH_MARKER_DIR"], "hung"), "w") as f:
        f.write(str(os.getpid()))
    time.sleep(3600)
''')


# Loop counts of the tiny suite before and after a planted regression. The change is a
# doubling, not a few percent: these tests show the flow (measure, suspect, re-run, confirm,
# bisect, alert) end to end on a shared 2-core machine, whose cores switch between two speeds
# within milliseconds. Against that, the ratio of two interleaved loops of equal work spreads
# by 1.4 % (4 % at worst in 40 processes) as the detector takes it (the median ratio over all
# sample pairs), by 8 % (31 %) as a ratio of medians. How small a change the detector finds
# is the detection tests' question (labelled synthetic series).
FAST_LOOP, SLOW_LOOP = 60000, 120000


@dataclass(frozen=True)
class CommitSpec:
    """One commit of a test repository: the loop count, and optionally a hanging suite."""

    work: int = 60000
    hang: bool = False
    timeout: int = 60
    marker_dir: Path | None = None
    samples: int = 15


def _toml(spec: CommitSpec) -> str:
    script = "hang.py" if spec.hang else "bench.py"
    env = f'\n[benchmark.env]\nBENCH_MARKER_DIR = "{spec.marker_dir}"\n' if spec.marker_dir else ""
    return (f'[benchmark]\ncommand = ["python", "{script}", "{{results}}", "{spec.samples}"]\n'
            f"timeout = {spec.timeout}\n{env}")


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}).stdout.strip()


@pytest.fixture
def git_repo(tmp_path: Path) -> Callable[[Sequence[CommitSpec]], tuple[Path, list[str]]]:
    """``make(specs) -> (path, shas oldest first)``: one commit per spec on branch main."""

    def make(specs: Sequence[CommitSpec]) -> tuple[Path, list[str]]:
        repo = tmp_path / "upstream"
        repo.mkdir()
        _git(repo, "init", "-q", "-b", "main")
        _git(repo, "config", "user.name", "Test Author")
        _git(repo, "config", "user.email", "author@example.com")
        (repo / "bench.py").write_text(BENCH_SCRIPT)
        (repo / "hang.py").write_text(HANG_SCRIPT)
        shas = []
        for i, spec in enumerate(specs, start=1):
            (repo / "work.txt").write_text(f"{spec.work}\n")
            (repo / "perfhud.toml").write_text(_toml(spec))
            (repo / "notes.txt").write_text(f"commit {i}\n")
            _git(repo, "add", "-A")
            when = f"2026-01-{i:02d}T12:00:00+00:00"
            _git(repo, "commit", "-q", "-m", f"commit {i}", env={"GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when})
            shas.append(_git(repo, "rev-parse", "HEAD"))
        return repo, shas

    return make


@dataclass
class Stack:
    """What a worker process and the test share: validated settings and the same environment."""

    name: str
    env: dict[str, str]
    settings: Settings = field(init=False)

    def __post_init__(self) -> None:
        self.settings = load_settings(self.env)


@pytest.fixture(params=["redis", "embedded"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Stack:
    env = {
        "PERFHUD_DATA_DIR": str(tmp_path / "data"),
        # Short limits and a fast sweeper keep the whole worker suite within a few minutes.
        "PERFHUD_JOB_SOFT_TIME_LIMIT": "60",
        "PERFHUD_JOB_TIME_LIMIT": "90",
        "PERFHUD_JOB_MAX_ATTEMPTS": "3",
        "PERFHUD_OUTBOX_STALE_SECONDS": "3",
    }
    if request.param == "redis":
        env["PERFHUD_DATABASE_URL"] = request.getfixturevalue("postgres_url")
        env["PERFHUD_BROKER_URL"] = request.getfixturevalue("redis_url")
    else:
        env["PERFHUD_DATABASE_URL"] = request.getfixturevalue("sqlite_url")
    return Stack(request.param, env)


def benchmark_core() -> str:
    """The last core this process may use: the one benchmarks get in these tests."""
    return str(max(os.sched_getaffinity(0)))


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill_group(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                continue
        # The group may outlive its leader (a pool process); make sure it is gone.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Workers:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[WorkerProcess] = []

    def start(self, stack: Stack, host: str = "testhost", extra: Sequence[str] = ()) -> WorkerProcess:
        log_path = self.tmp_path / f"worker-{len(self.started)}.log"
        env = {**os.environ, **stack.env}
        argv = [sys.executable, "-m", "perfhud.cli", "worker", "--host", host, "--cores", benchmark_core(), *extra]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        worker = WorkerProcess(proc, log_path)
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.kill_group()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


def wait_for(predicate: Callable[[], object], timeout: float, what: str, worker: WorkerProcess | None = None,
             interval: float = 0.25) -> object:
    """Poll until ``predicate()`` is truthy; fail with ``what`` (and the worker's log) on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if worker is not None and not worker.alive():
            pytest.fail(f"worker exited (status {worker.proc.returncode}) while waiting for {what}:\n"
                        f"{worker.log()[-4000:]}")
        time.sleep(interval)
    tail = f"\nworker log:\n{worker.log()[-4000:]}" if worker is not None else ""
    pytest.fail(f"timed out after {timeout} s waiting for {what}{tail}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers signal 0; it is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def job_reader(settings: Settings, job_id: int) -> Callable[[], object]:
    """``read() -> Job``: the job's row as it is now, read in a fresh transaction each call."""
    from db.models import Job
    from db.session import make_engine, make_session_factory, session_scope

    factory = make_session_factory(make_engine(settings.database_url))

    def read() -> Job:
        with session_scope(factory) as s:
            return s.get(Job, job_id)

    return read


def settled_jobs(session):  # type: ignore[no-untyped-def]
    """Every job, once none is open and every finished job's after-work has committed; else None.

    The worker records a job (its status and results) in one transaction and then runs what
    follows from it in another: change detection for a measuring job (a verdict on each
    result of a series it follows, and any re-run or bisection step that queues), the
    verdicts of a re-run. Each statement here reads its own snapshot, so the jobs are read
    before and after the check of their after-work, and only an unchanged list counts: a
    list read before an after-work committed would miss the jobs it queued, while the
    check of the after-work already sees its verdicts."""
    from sqlalchemy import select

    from db.models import Job, JobKind, JobStatus, Result

    def jobs() -> list:  # type: ignore[type-arg]
        return list(session.scalars(select(Job).order_by(Job.id)))

    before = jobs()
    if not all(j.status.finished for j in before):
        return None
    # Taken now: the objects read again below are these same ones, refreshed.
    seen = [(j.id, j.status) for j in before]
    succeeded = [j for j in before if j.status == JobStatus.SUCCEEDED]
    if any(j.kind == JobKind.CONFIRM and j.params.get("benchmark_ids") and "verdicts" not in (j.summary or {})
           for j in succeeded):
        return None
    followed = {j.id: set((j.summary or {}).get("series", [])) for j in succeeded if j.kind != JobKind.CONFIRM}
    undecided = session.scalars(select(Result).where(Result.job_id.in_(followed), Result.verdict.is_(None)))
    if any(r.benchmark.name in followed[r.job_id] for r in undecided):
        return None
    session.expire_all()  # read the jobs again from the database, not from the session
    after = jobs()
    return after if [(j.id, j.status) for j in after] == seen else None


class Kit:
    """The helpers above, handed to tests as a fixture (test modules here are not a package)."""

    CommitSpec = CommitSpec
    FAST, SLOW = FAST_LOOP, SLOW_LOOP
    wait_for = staticmethod(wait_for)
    pid_alive = staticmethod(pid_alive)
    job_reader = staticmethod(job_reader)
    settled_jobs = staticmethod(settled_jobs)


@pytest.fixture
def kit() -> Kit:
    return Kit()
