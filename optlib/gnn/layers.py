"""Drop-in replacements for PyG's GCNConv and SAGEConv that run as CSR sparse matmuls.

They keep the original layer's parameters (same names, so ``state_dict`` keys are unchanged)
and the same call signature. The linear map is applied before the aggregation, which is
exact because both are linear and the smaller feature width goes through the sparse product.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from optlib.gnn.csr import AdjacencyCache, gcn_adjacency, mean_adjacency


def _is_edge_index(x, edge_index) -> bool:
    """The inputs the CSR path handles: node features and a dense ``[2, E]`` index tensor."""
    return (
        isinstance(x, torch.Tensor)
        and isinstance(edge_index, torch.Tensor)
        and edge_index.layout == torch.strided
        and edge_index.dim() == 2
        and edge_index.size(0) == 2
    )


class CSRGCNConv(nn.Module):
    """``GCNConv`` (normalize=True, tensor ``edge_index``) as ``A_hat @ (x W^T) + b``."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.lin = conv.lin
        self.bias = conv.bias
        self.improved = conv.improved
        self.add_self_loops = conv.add_self_loops
        self.flow = conv.flow
        self._cache = AdjacencyCache()
        object.__setattr__(self, "_original", conv)  # shares the parameters; not a submodule

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor | None = None) -> torch.Tensor:
        if not _is_edge_index(x, edge_index):
            return self._original(x, edge_index, edge_weight)
        num_nodes = x.size(0)
        variant = ("gcn", self.improved, self.add_self_loops, self.flow)
        key = AdjacencyCache.key_of(edge_index, num_nodes, variant, x.dtype, edge_weight)
        adjacency = self._cache.get(
            key,
            lambda: gcn_adjacency(edge_index, edge_weight, num_nodes, self.improved, self.add_self_loops, self.flow, x.dtype),
        )
        out = adjacency @ self.lin(x).to(adjacency.dtype)
        return out if self.bias is None else out + self.bias


class CSRSAGEConv(nn.Module):
    """Mean-aggregating ``SAGEConv`` (no projection) as ``A_mean @ (x W_l^T) + b + x W_r^T``;
    with a quantized ``lin_l`` (the INT8 flow) as ``lin_l(A_mean @ x) + x W_r^T``."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.lin_l = conv.lin_l
        self.lin_r = conv.lin_r if conv.root_weight else None
        self.normalize = conv.normalize
        self.flow = conv.flow
        self._cache = AdjacencyCache()
        object.__setattr__(self, "_original", conv)  # shares the parameters; not a submodule

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, size=None) -> torch.Tensor:
        if size is not None or not _is_edge_index(x, edge_index):
            return self._original(x, edge_index, size)
        num_nodes = x.size(0)
        key = AdjacencyCache.key_of(edge_index, num_nodes, ("mean", self.flow), x.dtype, None)
        adjacency = self._cache.get(key, lambda: mean_adjacency(edge_index, num_nodes, self.flow, x.dtype))
        weight = getattr(self.lin_l, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.dtype.is_floating_point:
            out = adjacency @ F.linear(x, weight).to(adjacency.dtype)
            if self.lin_l.bias is not None:
                out = out + self.lin_l.bias
        else:
            # An INT8 lin_l was calibrated on the aggregated features: keep PyG's order.
            out = self.lin_l(adjacency @ x.to(adjacency.dtype))
        if self.lin_r is not None:
            out = out + self.lin_r(x)
        return F.normalize(out, p=2.0, dim=-1) if self.normalize else out
