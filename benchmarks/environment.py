"""The environment a results file was measured in, written into every file.

Figures without their machine are not comparable: a series must change only when the code
does, so the file records the CPU (model, ISA extensions that select kernels), the cores the
benchmarks were pinned to, the thread count, the OpenMP/allocator environment variables that
change timings, the frequency governor, and the versions of torch and optlib and the git sha
of the code under test. Collected in the parent without importing torch (versions come from
package metadata); each benchmark subprocess adds what only it can see.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["collect_environment", "parse_cpuinfo", "ISA_FLAGS"]

# Flags that decide which kernels oneDNN, inductor and ONNX Runtime pick.
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
             "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
             "asimd", "sve", "sve2", "bf16", "i8mm")
# Environment variables that change timings: thread pools, spin-waiting, allocators.
TIMING_ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OMP_PROC_BIND", "OMP_PLACES",
              "GOMP_SPINCOUNT", "KMP_AFFINITY", "KMP_BLOCKTIME", "MKL_NUM_THREADS",
              "LD_PRELOAD", "MALLOC_CONF", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")


def parse_cpuinfo(text: str) -> tuple[str | None, list[str]]:
    """(model name, relevant ISA flags) from /proc/cpuinfo text (x86 or ARM)."""
    model: str | None = None
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and model is None:
            model = value.strip() or None
        elif key in ("flags", "features"):
            flags.update(value.split())
    return model, [f for f in ISA_FLAGS if f in flags]


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_sha(directory: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


def collect_environment(cores: Sequence[int], threads: int) -> dict[str, Any]:
    cpuinfo = _read("/proc/cpuinfo") or ""
    model, isa = parse_cpuinfo(cpuinfo)
    if model is None:
        model = platform.processor() or None
    uname = platform.uname()
    return {
        "cpu_model": model,
        "isa": isa,
        "logical_cpus": os.cpu_count(),
        "cores": sorted(cores),
        "threads": threads,
        "machine": uname.machine,
        "kernel": uname.release,
        "hostname": uname.node,
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        # Other tenants' load when the run started: the first suspect for a noisy series.
        "load_average": (_read("/proc/loadavg") or "").split()[:3],
        "python": sys.version.split()[0],
        "torch_version": _version("torch"),
        "optlib_version": _version("perfhud"),
        "torch_geometric_version": _version("torch_geometric"),
        "onnxruntime_version": _version("onnxruntime"),
        "openvino_version": _version("openvino"),
        "git_sha": git_sha(Path(__file__).resolve().parent.parent),
        "timing_env": {k: os.environ[k] for k in TIMING_ENV if k in os.environ},
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
