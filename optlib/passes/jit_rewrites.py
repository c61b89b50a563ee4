"""Rewrites of frozen TorchScript graphs that stock ``optimize_for_inference`` does not make.

The textbook DLRM interaction gathers the strict lower triangle of its pairwise products with
``products[:, rows, cols]``, ``rows, cols = torch.tril_indices(n, n)``: advanced indexing with
two index tensors, which TorchScript runs as one ``aten::index``. The same gather is an
``index_select`` of ``rows * n + cols`` on the products flattened over their two square
dimensions; on DLRM's (128, 27, 27) products that took the INT8 TorchScript route's gather from
0.115 ms to a few hundredths (it was 11 % of the whole model at 2 threads).
"""

from __future__ import annotations

import torch

_GATHER_PATTERNS = {
    name: f"""
graph(%x, %none, %r, %c, %offset, %dtype, %layout, %device, %pin, %dim):
    %t = aten::{name}(%r, %c, %offset, %dtype, %layout, %device, %pin)
    %pair = aten::unbind(%t, %dim)
    %rows, %cols = prim::ListUnpack(%pair)
    %idx = prim::ListConstruct(%none, %rows, %cols)
    %out = aten::index(%x, %idx)
    return (%out)"""
    for name in ("tril_indices", "triu_indices")
}

_GATHER_REPLACEMENTS = {
    name: f"""
graph(%x, %none, %r, %c, %offset, %dtype, %layout, %device, %pin, %dim):
    %t = aten::{name}(%r, %c, %offset, %dtype, %layout, %device, %pin)
    %one : int = prim::Constant[value=1]()
    %two : int = prim::Constant[value=2]()
    %n : int = aten::size(%x, %two)
    %pair = aten::unbind(%t, %dim)
    %rows, %cols = prim::ListUnpack(%pair)
    %shifted = aten::mul(%rows, %n)
    %flat_index = aten::add(%shifted, %cols, %one)
    %flat = aten::flatten(%x, %one, %two)
    %out = aten::index_select(%flat, %one, %flat_index)
    return (%out)"""
    for name in ("tril_indices", "triu_indices")
}


def rewrite_triangle_gathers(module: torch.jit.ScriptModule) -> int:
    """Turn ``x[:, rows, cols]`` with ``rows, cols`` from ``tril_indices`` / ``triu_indices``
    into a flat ``index_select`` in ``module``'s forward graph (in place); returns how many.

    The indices of those ops are never negative and ``rows`` indexes dim 1, ``cols`` dim 2,
    so ``x[b, rows[p], cols[p], ...]`` is ``x.flatten(1, 2)[b, rows[p] * x.size(2) + cols[p], ...]``
    for any number of trailing dims; the leading ``:`` must be the constant ``None`` the
    tracer writes, which the pattern requires.
    """
    graph = module.graph
    before = _count(graph, "aten::index")
    for name, pattern in _GATHER_PATTERNS.items():
        torch._C._jit_pass_custom_pattern_based_rewrite_graph(pattern, _GATHER_REPLACEMENTS[name], graph)
    after = _count(graph, "aten::index")
    return before - after


def _count(graph: torch._C.Graph, kind: str) -> int:
    return sum(1 for node in graph.nodes() if node.kind() == kind)
