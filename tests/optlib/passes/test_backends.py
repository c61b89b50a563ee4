"""optlib's exported runtimes: OpenVINO from an ONNX export or from PyTorch, and in a process
that preloads its own allocator, as Intel's CPU tuning guides advise (LD_PRELOAD=
libjemalloc.so): real processes, real OpenVINO."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from optlib.passes.backends import allow_preloaded_allocator

ROUTE_PROGRAM = """
import torch
from optlib.passes.backends import build_openvino
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU()).eval()
x = torch.randn(4, 16)
run = build_openvino(model, x)
print(float((run(x) - model(x)).abs().max()))
"""


def test_the_openvino_route_runs_in_a_process_with_a_preloaded_allocator(jemalloc_beside_openvino: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TBB_ENABLE_SANITIZERS"}
    result = subprocess.run([sys.executable, "-c", ROUTE_PROGRAM], capture_output=True, text=True,
                            env={**env, "LD_PRELOAD": jemalloc_beside_openvino, "OMP_NUM_THREADS": "1"},
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.strip().splitlines()[-1]) < 1e-4


def test_onetbb_is_told_only_where_an_allocator_is_preloaded_and_a_user_value_is_kept() -> None:
    plain: dict[str, str] = {}
    allow_preloaded_allocator(plain)
    assert plain == {}
    preloaded = {"LD_PRELOAD": "/lib/libjemalloc.so.2"}
    allow_preloaded_allocator(preloaded)
    assert preloaded["TBB_ENABLE_SANITIZERS"] == "1"
    chosen = {"LD_PRELOAD": "/lib/libtcmalloc.so.4", "TBB_ENABLE_SANITIZERS": "0"}
    allow_preloaded_allocator(chosen)
    assert chosen["TBB_ENABLE_SANITIZERS"] == "0"


def test_openvino_reads_an_export_and_converts_from_pytorch_where_the_export_failed() -> None:
    pytest.importorskip("openvino")
    import torch

    from optlib.passes.backends import build_openvino, export_onnx

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.GELU()).eval()
    x = torch.randn(4, 16)
    read: list[bool] = []

    def exported() -> bytes:
        read.append(True)
        return export_onnx(model, x)

    def no_export() -> bytes:
        raise RuntimeError("export failed")

    for export in (exported, no_export):
        run = build_openvino(model, x, exported=export)
        assert float((run(x) - model(x)).abs().max()) < 1e-4
    assert read == [True]
