"""Carry out a launch plan: start every instance, wait for all, stop them all on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from types import FrameType

from optlib.launch.plan import InstancePlan, LaunchPlan

__all__ = ["run_plan"]


def _start(instance: InstancePlan, environ: Mapping[str, str], stack: ExitStack) -> subprocess.Popen:
    env = {**environ, **dict(instance.env)}
    stdout = None
    if instance.log_file:
        os.makedirs(os.path.dirname(instance.log_file) or ".", exist_ok=True)
        stdout = stack.enter_context(open(instance.log_file, "wb"))
    preexec = None
    if instance.binder == "sched_setaffinity":
        cpus = set(instance.cpus)
        preexec = lambda: os.sched_setaffinity(0, cpus)  # noqa: E731 - runs in the child
    return subprocess.Popen(list(instance.command), env=env, stdout=stdout,
                            stderr=subprocess.STDOUT if stdout else None, preexec_fn=preexec)


def run_plan(plan: LaunchPlan, environ: Mapping[str, str] | None = None) -> int:
    """Run all instances; the result is 0, or the first non-zero exit status."""
    environ = dict(os.environ if environ is None else environ)
    for note in plan.notes:
        print(f"optlib.launch: note: {note}", file=sys.stderr)
    procs: list[subprocess.Popen] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ExitStack() as stack:
            for instance in plan.instances:
                procs.append(_start(instance, environ, stack))
            codes = [proc.wait() for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return next((c for c in codes if c != 0), 0)
