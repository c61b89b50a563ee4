"""Bind the calling thread and torch's OpenMP threads to a pool's cores.

Setting the affinity of the calling thread is not enough: torch's intra-op threads are an
OpenMP team created the first time a parallel region ran, and they keep the affinity they
were born with. To reach them, :func:`pin` opens one OpenMP parallel region through the
runtime torch itself loaded (libgomp, or Intel's/LLVM's, which export the same GNU entry
point) and has each team member bind itself: member ``i`` to the pool's ``i``-th core. Later
parallel regions started from the same thread reuse that team, so the binding sticks.

Where no OpenMP runtime is found, only the calling thread is bound, with a warning.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import torch

from optlib.runtime.pool import CPUPool

__all__ = ["bind_current_thread", "openmp_library", "pin"]

log = logging.getLogger(__name__)

_OMP_NAMES = ("libgomp", "libiomp5", "libomp")
_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_lock = threading.Lock()
_omp: Any = None
_omp_searched = False


def _loaded_openmp_path() -> str | None:
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                if any(os.path.basename(path).startswith(n) for n in _OMP_NAMES):
                    return path
    except OSError:
        return None
    return None


def openmp_library() -> Any:
    """The OpenMP runtime torch uses, as a ctypes library, or None."""
    global _omp, _omp_searched
    with _lock:
        if not _omp_searched:
            _omp_searched = True
            path = _loaded_openmp_path()
            if path is not None:
                try:
                    lib = ctypes.CDLL(path)
                    lib.GOMP_parallel.argtypes = [_CALLBACK, ctypes.c_void_p, ctypes.c_uint,
                                                  ctypes.c_uint]
                    lib.GOMP_parallel.restype = None
                    lib.omp_get_thread_num.restype = ctypes.c_int
                    _omp = lib
                except (OSError, AttributeError) as err:
                    log.debug("cannot use OpenMP runtime %s: %s", path, err)
        return _omp


def _bind_team(masks: list[set[int]]) -> bool:
    """Run one parallel region of len(masks) threads; thread i takes masks[i]."""
    lib = openmp_library()
    if lib is None:
        return False
    errors: list[BaseException] = []

    def member(_: Any) -> None:
        try:
            os.sched_setaffinity(0, masks[lib.omp_get_thread_num()])
        except BaseException as err:  # raised in a foreign thread: report it on the caller's
            errors.append(err)

    callback = _CALLBACK(member)
    lib.GOMP_parallel(callback, None, len(masks), 0)
    if errors:
        raise errors[0]
    return True


def bind_current_thread(pool: CPUPool) -> None:
    """Bind this thread and its OpenMP team to ``pool`` for good (stream workers use it)."""
    _apply(pool.core_ids, [{c} for c in pool.core_ids], len(pool.core_ids))


def _apply(thread_mask: tuple[int, ...] | set[int], team_masks: list[set[int]],
           num_threads: int) -> None:
    if not hasattr(os, "sched_setaffinity"):
        raise OSError("this platform cannot set CPU affinity (os.sched_setaffinity is missing)")
    torch.set_num_threads(num_threads)
    os.sched_setaffinity(0, set(thread_mask))
    if not _bind_team(team_masks):
        warnings.warn("no OpenMP runtime found in this process; only the calling thread is "
                      "bound, torch's intra-op threads keep their affinity", RuntimeWarning,
                      stacklevel=3)


@contextlib.contextmanager
def pin(pool: CPUPool) -> Iterator[CPUPool]:
    """Run the block (or decorated function) on ``pool``'s cores, one thread per core.

    On exit the calling thread, its OpenMP team and torch's thread count are restored.
    """
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    outside = sorted(set(pool.core_ids) - allowed) if allowed else []
    if outside:
        raise ValueError(f"cores {outside} are outside this process's allowed CPUs "
                         f"{sorted(allowed)}")
    saved_mask, saved_threads = allowed, torch.get_num_threads()
    _apply(pool.core_ids, [{c} for c in pool.core_ids], len(pool.core_ids))
    try:
        yield pool
    finally:
        _bind_team([set(saved_mask)] * max(saved_threads, len(pool.core_ids)))
        os.sched_setaffinity(0, saved_mask)
        torch.set_num_threads(saved_threads)
