"""The triangle-gather rewrite: same outputs as the advanced indexing it replaces, for the lower
and upper triangle, with trailing dims, and nothing else in the graph is touched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optlib.passes.jit_rewrites import rewrite_triangle_gathers


class _PairGather(nn.Module):
    def __init__(self, op: str, offset: int) -> None:
        super().__init__()
        self.op, self.offset = op, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        indices = torch.tril_indices if self.op == "tril" else torch.triu_indices
        rows, cols = indices(n, n, offset=self.offset, device=x.device)
        return x[:, rows, cols] * 2


def _kinds(module: torch.jit.ScriptModule) -> list[str]:
    return [node.kind() for node in module.graph.nodes()]


@pytest.mark.parametrize("op, offset", [("tril", -1), ("tril", 0), ("triu", 1)])
@pytest.mark.parametrize("shape", [(3, 5, 5), (2, 4, 4, 3)])
def test_gather_becomes_index_select_with_equal_results(op, offset, shape):
    x = torch.randn(*shape)
    model = _PairGather(op, offset).eval()
    with torch.no_grad():
        frozen = torch.jit.freeze(torch.jit.trace(model, (x,), check_trace=False))
        assert rewrite_triangle_gathers(frozen) == 1
        assert "aten::index" not in _kinds(frozen) and "aten::index_select" in _kinds(frozen)
        for sample in (x, torch.randn(*shape)):
            torch.testing.assert_close(frozen(sample), model(sample), rtol=0, atol=0)


class _OtherIndex(nn.Module):
    def forward(self, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        return x[:, rows, cols]


def test_gathers_with_other_indices_are_left_alone():
    # Indices that may be negative (not from tril/triu_indices) must keep their semantics.
    x, rows, cols = torch.randn(2, 4, 4), torch.tensor([-1, 0]), torch.tensor([1, -2])
    with torch.no_grad():
        frozen = torch.jit.freeze(torch.jit.trace(_OtherIndex().eval(), (x, rows, cols), check_trace=False))
        assert rewrite_triangle_gathers(frozen) == 0
        assert "aten::index" in _kinds(frozen)
        torch.testing.assert_close(frozen(x, rows, cols), x[:, rows, cols])
