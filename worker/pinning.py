"""Core lists and how a benchmark subprocess is bound to them.

A pinned host is a set of cores reserved for benchmarks: the suite runs bound to them with one
OpenMP thread per core, and the worker's own process (Celery, the database driver, git) moves
to the machine's other cores so that it never steals cycles from a measurement.

The child binds itself with ``os.sched_setaffinity`` before it executes, and runs under
``numactl`` when that is installed (it also binds memory to the NUMA node). The job stores the
equivalent ``taskset``/``numactl`` line so that a run can be reproduced by hand.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from benchmarks.cores import format_cores, parse_cores

__all__ = ["Pinning", "available_cores", "format_cores", "move_self_off", "parse_cores", "pin_command", "thread_env"]


def available_cores() -> tuple[int, ...]:
    """Cores this process may run on (respects cgroup cpusets and an outer taskset)."""
    return tuple(sorted(os.sched_getaffinity(0)))


@dataclass(frozen=True)
class Pinning:
    """Where benchmarks run. ``cores`` must be a subset of the cores this process may use."""

    cores: tuple[int, ...]
    numa_node: int | None = None

    def __post_init__(self) -> None:
        if not self.cores:
            raise ValueError("a pinning needs at least one core")
        if self.numa_node is not None and self.numa_node < 0:
            raise ValueError(f"NUMA node must be >= 0, got {self.numa_node}")

    @classmethod
    def from_spec(cls, spec: str | None, numa_node: int | None = None) -> "Pinning":
        """From a ``--cores`` value; without one, every core this process may use."""
        cores = parse_cores(spec) if spec else available_cores()
        allowed = set(available_cores())
        outside = [c for c in cores if c not in allowed]
        if outside:
            raise ValueError(
                f"cores {format_cores(outside)} are not available to this process; "
                f"available: {format_cores(sorted(allowed))}"
            )
        return cls(cores=cores, numa_node=numa_node)

    @property
    def spec(self) -> str:
        return format_cores(self.cores)

    @property
    def threads(self) -> int:
        return len(self.cores)

    def housekeeping_cores(self) -> tuple[int, ...]:
        """Cores for the worker's own process: the others, or all of them if none are left."""
        rest = tuple(c for c in available_cores() if c not in self.cores)
        return rest or available_cores()


@dataclass(frozen=True)
class PinnedCommand:
    """A command ready for ``subprocess``: argv, environment and the pre-exec binding."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    preexec: Callable[[], None]
    binder: str  # "numactl" or "sched_setaffinity"
    reproduce: str  # the same run as one shell line, for a human to repeat it


def thread_env(pinning: Pinning) -> dict[str, str]:
    """Thread-count variables for the pinned cores; one thread per core, no oversubscription."""
    n = str(pinning.threads)
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def pin_command(
    argv: Sequence[str],
    pinning: Pinning,
    env: Mapping[str, str],
    *,
    which: Callable[[str], str | None] = shutil.which,
    extra_preexec: Callable[[], None] | None = None,
) -> PinnedCommand:
    """Wrap ``argv`` so it runs on ``pinning``'s cores with matching thread counts.

    The child always sets its own affinity before it executes (one system call, safe in a
    pre-exec hook): the worker moved itself off the benchmark cores, and numactl refuses cores
    outside the affinity it inherits. numactl is then added for what only it can do, binding
    memory to the NUMA node.
    """
    full_env = {**env, **thread_env(pinning)}
    cores = set(pinning.cores)

    def bind() -> None:
        if extra_preexec is not None:
            extra_preexec()
        os.sched_setaffinity(0, cores)

    numactl = which("numactl")
    if numactl:
        prefix: list[str] = [numactl, f"--physcpubind={pinning.spec}"]
        if pinning.numa_node is not None:
            prefix.append(f"--membind={pinning.numa_node}")
        binder = "numactl"
        shown = prefix
    else:
        prefix = []
        binder = "sched_setaffinity"
        shown = ["taskset", "-c", pinning.spec]
    threads = " ".join(f"{k}={v}" for k, v in thread_env(pinning).items())
    reproduce = " ".join([threads, *(shlex.quote(a) for a in (*shown, *argv))])
    return PinnedCommand((*prefix, *argv), full_env, bind, binder, reproduce)


def move_self_off(pinning: Pinning) -> tuple[int, ...]:
    """Move this process (and the children it forks later) to the housekeeping cores."""
    cores = pinning.housekeeping_cores()
    os.sched_setaffinity(0, set(cores))
    return cores
