"""Several ``EmbeddingBag`` tables looked up in one call.

A recommendation model has tens of tables; calling each one costs an operator dispatch and a
parallel region per table for a few kilobytes of work. Storing the tables end to end in one
weight and shifting each table's indices by its first row turns them into one
``embedding_bag`` call, whose output is then split per table.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

_MODES = ("sum", "mean", "max")


class TableOutputs(list):
    """The per-table outputs (a list of ``(B, D)`` tensors), which also carries the one
    ``(tables, B, D)`` tensor they are views of as ``stacked``, so that a consumer such as
    :class:`optlib.nn.Interaction` can use it instead of stacking the tables again."""

    def __init__(self, stacked: torch.Tensor) -> None:
        views = stacked.unbind(0)
        super().__init__(views)
        self.stacked = stacked
        self._views = views

    def stacked_if_unchanged(self) -> torch.Tensor | None:
        """``stacked``, unless the list was changed since (then its items are the truth)."""
        if len(self) != len(self._views) or not all(map(operator.is_, self, self._views)):
            return None
        return self.stacked


class MergedEmbeddingBag(nn.Module):
    def __init__(self, num_embeddings: Sequence[int], embedding_dim: int, mode: str = "sum") -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"unsupported mode {mode!r}; supported: {', '.join(_MODES)}")
        if not num_embeddings or any(n <= 0 for n in num_embeddings):
            raise ValueError(f"num_embeddings must be a non-empty list of positive sizes, got {list(num_embeddings)}")
        self.num_embeddings = tuple(int(n) for n in num_embeddings)
        self.embedding_dim = embedding_dim
        self.mode = mode
        starts = torch.tensor((0, *self.num_embeddings[:-1])).cumsum(0)
        self.register_buffer("row_starts", starts, persistent=False)
        # Per-call shifts, prepared once: building them cost as much as the lookup at batch 128.
        self.register_buffer("_row_starts_column", starts.unsqueeze(1), persistent=False)
        self._index_starts: dict[tuple[int, torch.device], torch.Tensor] = {}
        self.weight = nn.Parameter(torch.randn(sum(self.num_embeddings), embedding_dim))

    @classmethod
    def from_embeddingbags(cls, bags: Sequence[nn.EmbeddingBag]) -> MergedEmbeddingBag:
        """Merge existing tables (same dim and mode, no padding index, no last offset)."""
        if not bags:
            raise ValueError("from_embeddingbags needs at least one EmbeddingBag")
        dims, modes = {b.embedding_dim for b in bags}, {b.mode for b in bags}
        if len(dims) != 1 or len(modes) != 1:
            raise ValueError(f"tables must share embedding_dim and mode to merge; got dims {sorted(dims)}, modes {sorted(modes)}")
        if any(b.padding_idx is not None or b.include_last_offset or b.max_norm is not None for b in bags):
            raise ValueError("tables with padding_idx, include_last_offset or max_norm cannot be merged")
        merged = cls([b.num_embeddings for b in bags], dims.pop(), modes.pop())
        with torch.no_grad():
            merged.weight.copy_(torch.cat([b.weight for b in bags]))
        return merged

    def table_weight(self, table: int) -> torch.Tensor:
        start = int(self.row_starts[table])
        return self.weight[start:start + self.num_embeddings[table]]

    def forward(
        self,
        indices: Sequence[torch.Tensor] | torch.Tensor,
        offsets: Sequence[torch.Tensor] | torch.Tensor,
        per_sample_weights: Sequence[torch.Tensor] | torch.Tensor | None = None,
    ) -> TableOutputs:
        """Look up table ``t`` with ``indices[t]`` and ``offsets[t]`` (1-D, as ``EmbeddingBag``).

        ``indices`` and ``offsets`` may also be 2-D tensors, one row per table (every table
        with the same number of indices, as a fixed pooling factor gives): the shifts into the
        merged weight are then two vectorized adds instead of a pair of small ops per table,
        which is most of this module's cost in eager mode at tens of tables.

        Returns a :class:`TableOutputs`: the list of per-table ``(B, D)`` outputs, which
        also holds them as one ``(tables, B, D)`` tensor.
        """
        tables = len(self.num_embeddings)
        if len(indices) != tables or len(offsets) != tables:
            raise ValueError(f"expected {tables} index and offset tensors, got {len(indices)} and {len(offsets)}")
        if isinstance(indices, torch.Tensor) and isinstance(offsets, torch.Tensor):
            if indices.dim() != 2 or offsets.dim() != 2:
                raise ValueError(f"stacked indices and offsets must be 2-D (tables, n); got shapes "
                                 f"{tuple(indices.shape)} and {tuple(offsets.shape)}")
            batch, per_table = offsets.size(1), indices.size(1)
            all_indices = (indices + self._row_starts_column).reshape(-1)
            all_offsets = (offsets + self._index_starts_column(per_table, offsets.device)).reshape(-1)
            weights = None if per_sample_weights is None else torch.as_tensor(per_sample_weights).reshape(-1)
        else:
            batch = offsets[0].numel()
            if any(o.numel() != batch for o in offsets):
                raise ValueError("every table needs the same batch size (offsets of equal length)")
            lengths = torch.tensor([i.numel() for i in indices], device=offsets[0].device)
            index_starts = lengths.cumsum(0) - lengths
            all_indices = torch.cat([idx + self.row_starts[t] for t, idx in enumerate(indices)])
            all_offsets = torch.cat([off + index_starts[t] for t, off in enumerate(offsets)])
            weights = None if per_sample_weights is None else torch.cat(list(per_sample_weights))
        if weights is None:
            # The op itself: F.embedding_bag's argument checks cost more than the shifts above,
            # and these inputs are already known to be 1-D indices with matching offsets.
            out = torch.embedding_bag(self.weight, all_indices, all_offsets, False, _MODES.index(self.mode), False,
                                      None, False, None)[0]
        else:
            out = F.embedding_bag(all_indices, self.weight, all_offsets, mode=self.mode, per_sample_weights=weights)
        return TableOutputs(out.view(tables, batch, self.embedding_dim))

    def _index_starts_column(self, per_table: int, device: torch.device) -> torch.Tensor:
        """``(tables, 1)``: where each table's indices start in the flattened index tensor."""
        key = (per_table, device)
        starts = self._index_starts.get(key)
        if starts is None:
            starts = torch.arange(len(self.num_embeddings), device=device).mul_(per_table).unsqueeze(1)
            self._index_starts[key] = starts
        return starts

    def extra_repr(self) -> str:
        return f"tables={list(self.num_embeddings)}, dim={self.embedding_dim}, mode={self.mode}"
