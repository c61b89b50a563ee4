"""Probe what the launcher needs from the real machine: binders and preloadable libraries."""

from __future__ import annotations

import glob
import os
import shutil
import sys
from collections.abc import Iterable

from optlib.launch.plan import Tools

__all__ = ["find_library", "library_dirs", "probe_tools"]

_PATTERNS = {
    "jemalloc": ("libjemalloc.so", "libjemalloc.so.*"),
    "tcmalloc": ("libtcmalloc.so", "libtcmalloc.so.*", "libtcmalloc_minimal.so",
                 "libtcmalloc_minimal.so.*"),
    "intel_openmp": ("libiomp5.so",),
}


def library_dirs() -> list[str]:
    """Where a preloadable library may live: the environment's own lib first, then the OS's."""
    dirs = [os.path.join(sys.prefix, "lib")]
    dirs += [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    dirs += ["/usr/local/lib", "/usr/lib64", "/usr/lib"]
    dirs += sorted(glob.glob("/usr/lib/*-linux-gnu"))
    return dirs


def find_library(patterns: Iterable[str], dirs: Iterable[str]) -> str | None:
    for directory in dirs:
        for pattern in patterns:
            for path in sorted(glob.glob(os.path.join(directory, pattern))):
                if os.path.isfile(path):
                    return path
    return None


def probe_tools() -> Tools:
    dirs = library_dirs()
    return Tools(
        numactl=shutil.which("numactl"),
        taskset=shutil.which("taskset"),
        **{name: find_library(patterns, dirs) for name, patterns in _PATTERNS.items()},
    )
