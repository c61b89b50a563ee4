"""optlib.optimize for training keeps freed memory in the process (glibc): real processes,
since the setting is process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from optlib.runtime.allocator import is_glibc, retain_freed_memory

PROGRAM = """
import ctypes, json, resource, sys
import torch
import optlib

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2

def large_tensor_state():
    '''Is a fresh 64 MB tensor served by mmap, and how many page faults does making and
    filling one cost once earlier ones were freed (a training loop's steady state)?'''
    for _ in range(5):
        torch.ones(16 * 2**20)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = torch.ones(16 * 2**20)
    mapped = libc.mallinfo2().hblkhd >= t.nbytes
    return mapped, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults

before = large_tensor_state()
model = torch.nn.Linear(4, 4).train()
optlib.optimize(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **json.loads(sys.argv[1]))
after = large_tensor_state()
print(json.dumps({"before": before, "after": after}))
"""

glibc_only = pytest.mark.skipif(not is_glibc(), reason="the setting is glibc's (mallopt)")


def run(knobs: dict, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    result = subprocess.run([sys.executable, "-c", PROGRAM, json.dumps(knobs)], capture_output=True,
                            text=True, env={**clean, "OMP_NUM_THREADS": "1", **env}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@glibc_only
def test_training_keeps_large_freed_blocks_for_the_next_step() -> None:
    state = run({})
    (mapped_before, _), (mapped_after, faults_after) = state["before"], state["after"]
    assert mapped_before, "glibc serves a 64 MB block by mmap before optimize"
    assert not mapped_after, "after optimize the block comes from the retained heap"
    # 64 MB is 16,384 pages of 4 KiB: a reused block faults none of them in again.
    assert faults_after < 200, state


@glibc_only
def test_retain_freed_memory_false_leaves_malloc_as_it_was() -> None:
    state = run({"retain_freed_memory": False})
    assert state["before"][0] and state["after"][0], state


def test_a_preloaded_allocator_is_left_in_charge() -> None:
    assert retain_freed_memory({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}) is False
