"""DLRM (Naumov et al. 2019): dense features through a bottom MLP, sparse features through
embedding-bag tables, pairwise dot-product interaction, top MLP to a click logit.

The sparse inputs are two tensors (indices and offsets per table, stacked) rather than
Python lists, so that exporters and compilers see a fixed signature. The embedding stage and
the interaction are submodules with names of their own (``embeddings``, ``interaction``):
the optlib variant swaps them for optlib's fused modules without touching the MLPs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def mlp(sizes: Sequence[int], last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class EmbeddingTables(nn.Module):
    """One ``EmbeddingBag`` (sum pooling) per sparse feature, looked up one by one."""

    def __init__(self, rows: Sequence[int], dim: int) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.EmbeddingBag(n, dim, mode="sum") for n in rows)

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor) -> list[torch.Tensor]:
        return [table(indices[i], offsets[i]) for i, table in enumerate(self.tables)]


class DotInteraction(nn.Module):
    """Dot products of every pair of feature vectors (strict lower triangle), plus the dense
    vector itself: the interaction of the reference DLRM."""

    def forward(self, dense: torch.Tensor, sparse: list[torch.Tensor]) -> torch.Tensor:
        features = torch.stack([dense, *sparse], dim=1)
        products = torch.bmm(features, features.transpose(1, 2))
        n = features.shape[1]
        rows, cols = torch.tril_indices(n, n, offset=-1, device=dense.device)
        return torch.cat([dense, products[:, rows, cols]], dim=1)


class DLRM(nn.Module):
    def __init__(self, dense_features: int, table_rows: Sequence[int], dim: int,
                 bottom: Sequence[int], top: Sequence[int]) -> None:
        super().__init__()
        if bottom[-1] != dim:
            raise ValueError(f"bottom MLP must end at the embedding dim {dim}, got {bottom[-1]}")
        self.bottom = mlp([dense_features, *bottom], last_activation=True)
        self.embeddings = EmbeddingTables(table_rows, dim)
        self.interaction = DotInteraction()
        n = len(table_rows) + 1
        self.top = mlp([dim + n * (n - 1) // 2, *top], last_activation=False)

    def forward(self, dense: torch.Tensor, indices: torch.Tensor, offsets: torch.Tensor
                ) -> torch.Tensor:
        x = self.bottom(dense)
        return self.top(self.interaction(x, self.embeddings(indices, offsets)))


def sparse_batch(table_rows: Sequence[int], batch: int, pooling: int, generator: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (tables x batch*pooling) and offsets (tables x batch) with a fixed pooling factor.

    Indices follow a power law (a few hot rows, a long tail), as click logs do, so that cache
    behaviour resembles production rather than uniform random access.
    """
    n = len(table_rows)
    u = torch.rand(n, batch * pooling, generator=generator)
    rows = torch.tensor(table_rows, dtype=torch.float64).unsqueeze(1)
    indices = (rows ** u.double() - 1).long().clamp_(min=0)
    indices = torch.minimum(indices, (rows - 1).long())
    offsets = (torch.arange(batch) * pooling).repeat(n, 1)
    return indices, offsets
