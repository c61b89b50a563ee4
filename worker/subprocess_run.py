"""Run one pinned command with a deadline, and keep the tail of what it printed.

The command runs in its own session (process group), so that a timeout kills everything it
started, not only the direct child; and it receives SIGKILL if the worker process running it
dies, so a killed worker does not leave a suite occupying the benchmark cores. Output goes to a
file, not a pipe: a suite that prints megabytes cannot block on a full pipe.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from worker.pinning import Pinning, pin_command

LOG_TAIL_BYTES = 16 * 1024
KILL_GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


@dataclass(frozen=True)
class RunOutcome:
    returncode: int | None  # None when it was killed at the deadline
    timed_out: bool
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.returncode == 0


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_pinned(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    pinning: Pinning,
    timeout: float,
    log_path: Path,
) -> tuple[RunOutcome, str]:
    """Run ``argv`` bound to ``pinning`` for at most ``timeout`` seconds, appending to ``log_path``.

    Returns the outcome and the reproducible command line. Any exception raised while waiting
    (Celery's soft time limit arrives as one) kills the process group before it propagates.
    """
    pinned = pin_command(argv, pinning, env, extra_preexec=die_with_parent)
    start = time.monotonic()
    with open(log_path, "ab") as log:
        log.write(f"$ {pinned.reproduce}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(pinned.argv),
            cwd=cwd,
            env=dict(pinned.env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pinned.preexec,
        )
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return RunOutcome(None, True, time.monotonic() - start), pinned.reproduce
        except BaseException:
            _kill_group(proc)
            raise
        # The suite may have left children behind in its group; they must not outlive the job.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return RunOutcome(returncode, False, time.monotonic() - start), pinned.reproduce


def read_tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    """The last ``limit`` bytes of a log, starting at a line boundary."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            data = handle.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    if size > limit and "\n" in text:
        text = text.split("\n", 1)[1]
    return text


def suite_environment(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The environment a suite sees: the worker's, minus perfhud's secrets and broker settings.

    The suite is code from the benchmarked repository; it has no business reading the
    database URL, the GitHub token or the webhook secret.
    """
    env = {k: v for k, v in base.items() if not k.startswith(("PERFHUD_", "CELERY_"))}
    env.update(extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
