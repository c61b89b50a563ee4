"""optlib.nn modules against plain references written from each op's definition."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from optlib.nn import FrozenBatchNorm2d, Interaction, MergedEmbeddingBag, ROIAlign


def test_frozen_batch_norm_matches_eval_batch_norm_formula():
    g = torch.Generator().manual_seed(0)
    bn = nn.BatchNorm2d(6, eps=1e-3).eval()
    bn.running_mean.copy_(torch.randn(6, generator=g))
    bn.running_var.copy_(torch.rand(6, generator=g) + 0.1)
    bn.weight.data.copy_(torch.randn(6, generator=g))
    bn.bias.data.copy_(torch.randn(6, generator=g))
    frozen = FrozenBatchNorm2d.from_batch_norm(bn)
    x = torch.randn(2, 6, 5, 5, generator=g)
    shape = (1, -1, 1, 1)
    expected = (x - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + 1e-3) \
        * bn.weight.view(shape) + bn.bias.view(shape)
    torch.testing.assert_close(frozen(x), expected.detach(), rtol=1e-5, atol=1e-6)
    assert not list(frozen.parameters()), "frozen statistics must not be trainable"
    assert set(frozen.state_dict()) == {"weight", "bias", "running_mean", "running_var"}


@pytest.mark.parametrize("self_interaction", [False, True])
def test_interaction_matches_pairwise_dot_products(self_interaction):
    g = torch.Generator().manual_seed(1)
    dense = torch.randn(4, 8, generator=g)
    sparse = [torch.randn(4, 8, generator=g) for _ in range(3)]
    feats = [dense, *sparse]
    pairs = [(i, j) for i in range(4) for j in range(4) if (j <= i if self_interaction else j < i)]
    expected = torch.cat([dense, torch.stack([(feats[i] * feats[j]).sum(1) for i, j in pairs], dim=1)], dim=1)
    module = Interaction(self_interaction=self_interaction)
    out = module(dense, sparse)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert out.shape[1] == module.output_features(8, 3)


def test_interaction_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        Interaction()(torch.randn(2, 4), [torch.randn(2, 5)])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_merged_embedding_bag_equals_tables_one_by_one(mode):
    torch.manual_seed(2)
    bags = [nn.EmbeddingBag(rows, 8, mode=mode) for rows in (10, 30, 5)]
    merged = MergedEmbeddingBag.from_embeddingbags(bags)
    g = torch.Generator().manual_seed(3)
    indices, offsets = [], []
    for bag in bags:
        lengths = torch.randint(1, 4, (6,), generator=g)
        indices.append(torch.randint(0, bag.num_embeddings, (int(lengths.sum()),), generator=g))
        offsets.append(torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]]))
    outs = merged(indices, offsets)
    for bag, idx, off, out in zip(bags, indices, offsets, outs):
        torch.testing.assert_close(out, bag(idx, off), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(merged.table_weight(1), bags[1].weight, rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_merged_embedding_bag_takes_stacked_tables_as_one_tensor(mode):
    torch.manual_seed(5)
    bags = [nn.EmbeddingBag(rows, 8, mode=mode) for rows in (10, 30, 5)]
    merged = MergedEmbeddingBag.from_embeddingbags(bags)
    g = torch.Generator().manual_seed(6)
    # Two indices per bag, 4 bags per table, every table the same count (a pooling factor).
    indices = torch.stack([torch.randint(0, b.num_embeddings, (8,), generator=g) for b in bags])
    offsets = torch.arange(0, 8, 2).repeat(3, 1)
    weights = torch.rand(3, 8, generator=g) if mode == "sum" else None
    outs = merged(indices, offsets, weights)
    for t, (bag, out) in enumerate(zip(bags, outs)):
        pw = None if weights is None else weights[t]
        torch.testing.assert_close(out, bag(indices[t], offsets[t], per_sample_weights=pw), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="2-D"):
        merged(indices.reshape(3, 2, 4), offsets)


def test_merged_embedding_bag_per_sample_weights():
    torch.manual_seed(4)
    bags = [nn.EmbeddingBag(12, 4, mode="sum") for _ in range(2)]
    merged = MergedEmbeddingBag.from_embeddingbags(bags)
    idx = [torch.tensor([1, 2, 3, 4]), torch.tensor([5, 6, 7, 8])]
    off = [torch.tensor([0, 2]), torch.tensor([0, 3])]
    w = [torch.rand(4), torch.rand(4)]
    for bag, out, i, o, pw in zip(bags, merged(idx, off, w), idx, off, w):
        torch.testing.assert_close(out, bag(i, o, per_sample_weights=pw))


@pytest.mark.parametrize(
    "bad, match",
    [
        ([nn.EmbeddingBag(4, 4), nn.EmbeddingBag(4, 8)], "share embedding_dim"),
        ([nn.EmbeddingBag(4, 4, mode="sum"), nn.EmbeddingBag(4, 4, mode="mean")], "share embedding_dim and mode"),
        ([nn.EmbeddingBag(4, 4, padding_idx=0)], "padding_idx"),
        ([], "at least one"),
    ],
)
def test_merged_embedding_bag_rejects_what_it_cannot_merge(bad, match):
    with pytest.raises(ValueError, match=match):
        MergedEmbeddingBag.from_embeddingbags(bad)


def _bilinear(feature: torch.Tensor, y: float, x: float) -> torch.Tensor:
    height, width = feature.shape[-2:]
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return torch.zeros(feature.shape[0], dtype=feature.dtype)
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    return (hy * hx * feature[:, y_low, x_low] + hy * lx * feature[:, y_low, x_high]
            + ly * hx * feature[:, y_high, x_low] + ly * lx * feature[:, y_high, x_high])


def reference_roi_align(inp, rois, out_size, scale, sampling_ratio, aligned):
    """torchvision's roi_align, sample by sample, from its definition."""
    out = torch.zeros(rois.shape[0], inp.shape[1], out_size, out_size, dtype=torch.float64)
    offset = 0.5 if aligned else 0.0
    for k, roi in enumerate(rois.tolist()):
        feature = inp[int(roi[0])].double()
        x1, y1, x2, y2 = (v * scale - offset for v in roi[1:])
        roi_w, roi_h = x2 - x1, y2 - y1
        if not aligned:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / out_size, roi_w / out_size
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / out_size)
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / out_size)
        count = max(grid_h * grid_w, 1)
        for ph in range(out_size):
            for pw in range(out_size):
                acc = torch.zeros(inp.shape[1], dtype=torch.float64)
                for iy in range(grid_h):
                    y = y1 + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                    for ix in range(grid_w):
                        x = x1 + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                        acc += _bilinear(feature, y, x)
                out[k, :, ph, pw] = acc / count
    return out


@pytest.mark.parametrize(
    "scale, sampling_ratio, aligned",
    [(1.0, -1, False), (0.5, 2, False), (0.25, 0, True), (1.0, 3, True), (0.5, -1, True)],
)
def test_roi_align_matches_definition(scale, sampling_ratio, aligned):
    g = torch.Generator().manual_seed(5)
    inp = torch.randn(2, 3, 12, 10, generator=g)
    rois = torch.tensor(
        [
            [0, 1.0, 1.0, 8.0, 9.0],
            [1, 0.0, 0.0, 19.5, 23.0],   # reaches past the border at small scales
            [1, 3.3, 2.7, 3.3, 2.7],     # zero-size box
            [0, -4.0, -3.0, 5.0, 4.0],   # starts outside
            [1, 2.0, 5.0, 30.0, 40.0],   # mostly outside
        ]
    )
    module = ROIAlign(3, spatial_scale=scale, sampling_ratio=sampling_ratio, aligned=aligned)
    expected = reference_roi_align(inp, rois, 3, scale, sampling_ratio, aligned)
    torch.testing.assert_close(module(inp, rois).double(), expected, rtol=1e-5, atol=1e-5)


def test_roi_align_rejects_bad_boxes():
    with pytest.raises(ValueError, match="K x 5"):
        ROIAlign(2, 1.0, 2)(torch.randn(1, 1, 4, 4), torch.zeros(3, 4))
