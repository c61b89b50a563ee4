"""Core lists and how a benchmark command is bound to them."""

from __future__ import annotations

import os

import pytest

from worker.pinning import Pinning, pin_command, thread_env


def test_pinning_refuses_cores_it_cannot_use() -> None:
    missing = max(os.sched_getaffinity(0)) + 1
    with pytest.raises(ValueError, match="not available to this process"):
        Pinning.from_spec(str(missing))


def test_threads_follow_the_core_count() -> None:
    pinning = Pinning(cores=(2, 3, 4))
    assert thread_env(pinning) == {"OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3"}


def test_pin_command_with_numactl_binds_memory_too() -> None:
    pinned = pin_command(["python", "x.py"], Pinning(cores=(2, 3), numa_node=1), {"A": "1"},
                         which=lambda name: "/usr/bin/numactl" if name == "numactl" else None)
    assert pinned.argv == ("/usr/bin/numactl", "--physcpubind=2-3", "--membind=1", "python", "x.py")
    assert pinned.env["A"] == "1" and pinned.env["OMP_NUM_THREADS"] == "2"
    assert pinned.binder == "numactl"


def test_pin_command_without_numactl_binds_in_the_child() -> None:
    pinned = pin_command(["python", "x.py"], Pinning(cores=(1,)), {}, which=lambda name: None)
    assert pinned.argv == ("python", "x.py")
    assert pinned.binder == "sched_setaffinity"
    assert pinned.reproduce.endswith("taskset -c 1 python x.py")


def test_pinned_child_runs_on_its_cores(tmp_path) -> None:
    import subprocess
    import sys

    core = max(os.sched_getaffinity(0))
    pinned = pin_command([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)), os.environ['OMP_NUM_THREADS'])"],
                         Pinning(cores=(core,)), dict(os.environ), which=lambda name: None)
    out = subprocess.run(list(pinned.argv), env=dict(pinned.env), preexec_fn=pinned.preexec, capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == [f"[{core}]", "1"]
