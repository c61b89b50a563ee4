"""CPUPool, pin and MultiStreamModule on this machine's real threads."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from optlib.cpu import CPUInfo, LogicalCPU
from optlib.runtime import CPUPool, MultiStreamModule, pin

# 2 sockets x 2 cores x 2 threads: CPUs 0-3 on node 0, 4-7 on node 1; siblings are n and n+2.
FAKE = CPUInfo(
    model_name="fake", arch="x86_64", isa=frozenset(),
    cpus=tuple(LogicalCPU(cpu=c, core=(c // 4) * 2 + c % 2, socket=c // 4, node=c // 4)
               for c in range(8)),
)
ALLOWED = sorted(os.sched_getaffinity(0))


def thread_masks() -> list[set[int]]:
    masks = []
    for tid in os.listdir("/proc/self/task"):
        try:
            masks.append(os.sched_getaffinity(int(tid)))
        except OSError:  # the thread ended meanwhile
            pass
    return masks


@pytest.mark.parametrize("kwargs, expected", [
    (dict(node_id=1), (4, 5)),
    (dict(node_id=1, use_logical_cores=True), (4, 5, 6, 7)),
    (dict(core_ids=[6, 2]), (6, 2)),
])
def test_pool_selects_cores(kwargs: dict, expected: tuple[int, ...]) -> None:
    assert CPUPool(cpu=FAKE, **kwargs).core_ids == expected


@pytest.mark.parametrize("kwargs, message", [
    (dict(), "exactly one of"),
    (dict(core_ids=[0], node_id=0), "exactly one of"),
    (dict(core_ids=[9]), r"core_ids \[9\] do not exist"),
    (dict(core_ids=[1, 1]), "duplicates"),
    (dict(node_id=3), "NUMA node 3 does not exist"),
])
def test_pool_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CPUPool(cpu=FAKE, **kwargs)


def test_split_gives_disjoint_contiguous_pools() -> None:
    pools = CPUPool(cpu=FAKE, node_id=0, use_logical_cores=True).split(3)
    assert [p.core_ids for p in pools] == [(0, 1), (2,), (3,)]
    with pytest.raises(ValueError, match="cannot split 4 cores into 5"):
        CPUPool(cpu=FAKE, node_id=0, use_logical_cores=True).split(5)


def test_pin_binds_caller_and_openmp_team_then_restores() -> None:
    torch.ones(1 << 20).sum()  # make sure the OpenMP team exists before pinning
    before_threads = torch.get_num_threads()
    pool = CPUPool(core_ids=ALLOWED)
    with pin(pool):
        assert torch.get_num_threads() == len(ALLOWED)
        assert os.sched_getaffinity(0) == {ALLOWED[0]}
        masks = thread_masks()
        for core in ALLOWED:  # one team member per core, each bound to its own
            assert {core} in masks
        torch.randn(256, 256) @ torch.randn(256, 256)
    assert os.sched_getaffinity(0) == set(ALLOWED)
    assert torch.get_num_threads() == before_threads
    assert all(len(m) == len(ALLOWED) for m in thread_masks())


def test_pin_works_as_a_decorator() -> None:
    pool = CPUPool(core_ids=ALLOWED[-1:])

    @pin(pool)
    def where() -> tuple[set[int], int]:
        return os.sched_getaffinity(0), torch.get_num_threads()

    assert where() == ({ALLOWED[-1]}, 1)
    assert where() == ({ALLOWED[-1]}, 1)  # usable more than once
    assert os.sched_getaffinity(0) == set(ALLOWED)


def test_pin_refuses_cores_outside_the_process() -> None:
    missing = max(ALLOWED) + 1
    fake = CPUInfo(model_name="fake", arch="x86_64", isa=frozenset(),
                   cpus=tuple(LogicalCPU(cpu=c, core=c) for c in [*ALLOWED, missing]))
    with pytest.raises(ValueError, match="outside this process's allowed CPUs"):
        with pin(CPUPool(core_ids=[missing], cpu=fake)):
            pass


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor, *, scale: float = 1.0, bias: torch.Tensor | None = None):
        features = self.body(x)
        logits = self.head(features) * scale
        if bias is not None:
            logits = logits + bias
        return {"logits": logits, "features": (features,)}


@pytest.mark.parametrize("batch", [1, 5, 8])
def test_multi_stream_output_equals_model(batch: int) -> None:
    torch.manual_seed(0)
    model = TwoHeads().eval()
    x, bias = torch.randn(batch, 3, 16, 16), torch.randn(batch, 4)
    with torch.no_grad():
        expected = model(x, scale=0.5, bias=bias)
        with MultiStreamModule(model, len(ALLOWED), CPUPool(core_ids=ALLOWED)) as streams:
            got = streams(x, scale=0.5, bias=bias)
    torch.testing.assert_close(got["logits"], expected["logits"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got["features"][0], expected["features"][0], rtol=1e-5, atol=1e-6)
    assert not got["logits"].requires_grad


def test_multi_stream_carries_grad_mode_and_validates() -> None:
    model = nn.Linear(4, 2)
    with MultiStreamModule(model, 1, CPUPool(core_ids=ALLOWED[:1])) as streams:
        out = streams(torch.randn(3, 4))
        assert out.requires_grad
        out.sum().backward()
        assert model.weight.grad is not None
    with pytest.raises(RuntimeError, match="closed"):
        streams(torch.randn(3, 4))
    with pytest.raises(ValueError, match="num_streams must be an int"):
        MultiStreamModule(model, len(ALLOWED) + 1, CPUPool(core_ids=ALLOWED))
