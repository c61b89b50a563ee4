"""MergedEmbeddingBag hands Interaction its tables as one tensor: same results as the list
path, a changed list is never read through the stale tensor, and the pair traces and scripts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optlib.nn import Interaction, MergedEmbeddingBag
from optlib.nn.merged_embedding_bag import TableOutputs


def _tables(batch: int = 5, dim: int = 8, pooling: int = 2):
    torch.manual_seed(0)
    bags = [nn.EmbeddingBag(rows, dim, mode="sum") for rows in (10, 30, 5, 7)]
    merged = MergedEmbeddingBag.from_embeddingbags(bags)
    g = torch.Generator().manual_seed(1)
    indices = torch.stack([torch.randint(0, b.num_embeddings, (batch * pooling,), generator=g) for b in bags])
    offsets = (torch.arange(batch) * pooling).repeat(len(bags), 1)
    return bags, merged, indices, offsets


def test_outputs_are_a_list_of_views_of_one_tensor():
    bags, merged, indices, offsets = _tables()
    outs = merged(indices, offsets)
    assert isinstance(outs, list) and isinstance(outs, TableOutputs) and len(outs) == len(bags)
    assert outs.stacked.shape == (4, 5, 8)
    for t, bag in enumerate(bags):
        torch.testing.assert_close(outs[t], bag(indices[t], offsets[t]), rtol=1e-6, atol=1e-6)
        assert outs[t].data_ptr() == outs.stacked[t].data_ptr()
    # Another pooling factor gets its own index shifts.
    other = (torch.arange(10) * 1).repeat(4, 1)
    for t, bag in enumerate(bags):
        torch.testing.assert_close(merged(indices, other)[t], bag(indices[t], other[t]), rtol=1e-6, atol=1e-6)


def test_interaction_on_table_outputs_equals_the_list_path():
    _, merged, indices, offsets = _tables()
    dense = torch.randn(5, 8)
    outs = merged(indices, offsets)
    interaction = Interaction()
    fast = interaction(dense, outs)
    torch.testing.assert_close(fast, interaction(dense, list(outs)), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(fast, interaction(dense, [t.clone() for t in outs]), rtol=1e-6, atol=1e-6)


def test_a_changed_list_is_used_as_it_is_now():
    _, merged, indices, offsets = _tables()
    dense = torch.randn(5, 8)
    outs = merged(indices, offsets)
    replacement = torch.randn(5, 8)
    outs[1] = replacement
    assert outs.stacked_if_unchanged() is None
    expected = Interaction()(dense, [outs[0], replacement, outs[2], outs[3]])
    torch.testing.assert_close(Interaction()(dense, outs), expected)
    outs.append(torch.randn(5, 8))
    assert Interaction()(dense, outs).shape[1] == Interaction().output_features(8, 5)
    with pytest.raises(ValueError, match="same shape"):
        Interaction()(torch.randn(5, 4), merged(indices, offsets))


class _Net(nn.Module):
    def __init__(self, merged: MergedEmbeddingBag) -> None:
        super().__init__()
        self.embeddings = merged
        self.interaction = Interaction()

    def forward(self, dense, indices, offsets):
        return self.interaction(dense, self.embeddings(indices, offsets))


def test_the_pair_traces_and_gives_the_same_result():
    _, merged, indices, offsets = _tables()
    net = _Net(merged).eval()
    dense = torch.randn(5, 8)
    with torch.no_grad():
        expected = net(dense, indices, offsets)
        traced = torch.jit.freeze(torch.jit.trace(net, (dense, indices, offsets), check_trace=False))
        torch.testing.assert_close(traced(dense, indices, offsets), expected, rtol=1e-6, atol=1e-6)


def test_gradients_reach_the_merged_weight():
    _, merged, indices, offsets = _tables()
    dense = torch.randn(5, 8, requires_grad=True)
    Interaction()(dense, merged(indices, offsets)).sum().backward()
    assert merged.weight.grad is not None and merged.weight.grad.abs().sum() > 0
    assert dense.grad is not None
