"""DLRM's dot interaction (Naumov et al. 2019): pairwise dot products between feature vectors."""

from __future__ import annotations

import torch
from torch import nn

from optlib.nn.merged_embedding_bag import TableOutputs


class Interaction(nn.Module):
    """``cat([dense, dot(f_i, f_j) for i > j])`` over ``f = [dense, *sparse]``, all ``(B, D)``.

    One batched matmul computes every dot product; the strictly lower triangle (or with the
    diagonal when ``self_interaction``) is gathered with precomputed flat indices, which avoids
    the two-index advanced indexing of the textbook version.
    """

    def __init__(self, self_interaction: bool = False) -> None:
        super().__init__()
        self.self_interaction = self_interaction
        self._index_cache: dict[int, torch.Tensor] = {}

    def _flat_indices(self, features: int, device: torch.device) -> torch.Tensor:
        index = self._index_cache.get(features)
        if index is None or index.device != device:
            offset = 0 if self.self_interaction else -1
            rows, cols = torch.tril_indices(features, features, offset=offset, device=device)
            index = rows * features + cols
            self._index_cache[features] = index
        return index

    def forward(self, dense: torch.Tensor, sparse: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> torch.Tensor:
        stacked = sparse.stacked_if_unchanged() if isinstance(sparse, TableOutputs) else None
        if dense.dim() == 2 and stacked is not None and stacked.shape[1:] == dense.shape:
            # The tables' outputs are one (tables, B, D) tensor already: one small cat and a
            # strided view replace stacking 27 tensors (a copy of every feature).
            features = torch.cat([dense.unsqueeze(0), stacked]).transpose(0, 1)
        else:
            if dense.dim() != 2 or any(s.shape != dense.shape for s in sparse):
                raise ValueError(
                    f"Interaction expects dense (B, D) and sparse features of the same shape; got "
                    f"{tuple(dense.shape)} and {[tuple(s.shape) for s in sparse]}"
                )
            features = torch.stack([dense, *sparse], dim=1)
        products = torch.bmm(features, features.transpose(1, 2)).flatten(1)
        index = self._flat_indices(features.size(1), dense.device)
        return torch.cat([dense, products.index_select(1, index)], dim=1)

    def output_features(self, dim: int, sparse_features: int) -> int:
        n = sparse_features + 1
        pairs = n * (n + 1) // 2 if self.self_interaction else n * (n - 1) // 2
        return dim + pairs
