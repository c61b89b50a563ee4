"""``perfhud up`` end to end on the embedded defaults: web and worker start, the demo is
backfilled, the planted regression is flagged on its commit and only there, Ctrl-C leaves
nothing running, and a second ``up`` resumes with the data kept."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from db.models import Alert, Commit, Job, JobStatus
from perfhud.demo import REGRESSION_COMMIT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_up(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFHUD_")}
    env.update(PERFHUD_DATA_DIR=str(data_dir), PERFHUD_OUTBOX_STALE_SECONDS="10")
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "perfhud.cli", "up", "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _descendants_alive(data_dir: Path) -> list[str]:
    """Processes whose command line or environment names this test's data directory."""
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(data_dir).encode() in environ and int(pid) != os.getpid():
            alive.append(f"{pid}: {cmdline}")
    return alive


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)


def test_up_runs_the_demo_flags_the_regression_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir, port, log = tmp_path / "data", _free_port(), tmp_path / "up.log"
    proc = _start_up(data_dir, port, log)
    try:
        engine = None
        deadline = time.monotonic() + 420
        alerts: list[tuple[str, int]] = []
        shas: list[str] = []
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(3)
            if not (data_dir / "perfhud.db").exists():
                continue
            engine = engine or create_engine(f"sqlite:///{data_dir / 'perfhud.db'}")
            with Session(engine) as s:
                jobs = s.scalars(select(Job)).all()
                if len(jobs) < 12 or any(not j.status.finished for j in jobs):
                    continue
                shas = [c.sha for c in s.scalars(select(Commit).order_by(Commit.committed_at, Commit.id))]
                alerts = [(a.suspect_commit.sha, a.state.value) for a in s.scalars(select(Alert))]
                if alerts:
                    break
        assert proc.poll() is None, log.read_text()[-3000:]
        assert len(shas) == 12, log.read_text()[-3000:]
        assert [sha for sha, _ in alerts] == [shas[REGRESSION_COMMIT - 1]], (alerts, log.read_text()[-3000:])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/hud?repository=demo/microbench") as r:
            assert r.status == 200 and json.loads(r.read())
    finally:
        _stop(proc)
    assert proc.returncode == 0, log.read_text()[-3000:]
    time.sleep(1)
    assert _descendants_alive(data_dir) == []

    # Again: the store, its results and its alert are still there; nothing is queued twice.
    again = _start_up(data_dir, port, log)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "already set up" not in log.read_text():
            time.sleep(1)
        assert "already set up" in log.read_text(), log.read_text()[-3000:]
    finally:
        _stop(again)
    with Session(create_engine(f"sqlite:///{data_dir / 'perfhud.db'}")) as s:
        assert len(s.scalars(select(Job).where(Job.kind == "regular")).all()) == 12
        assert all(j.status == JobStatus.SUCCEEDED for j in s.scalars(select(Job)))
        assert len(s.scalars(select(Alert)).all()) == 1
