from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from optlib.passes import (
    PrepackedConv2d,
    fold_conv_bn,
    prepack_weights,
    replace_dropout_with_identity,
    to_channels_last,
)
from tests.optlib import models


@pytest.mark.parametrize("dropout", [nn.Dropout(0.5), nn.Dropout2d(0.3), nn.AlphaDropout(0.2)])
def test_dropout_becomes_identity_in_eval_mode(dropout):
    model = nn.Sequential(nn.Conv2d(2, 2, 1), dropout, nn.ReLU()).eval()
    out = replace_dropout_with_identity(model)
    assert isinstance(out[1], nn.Identity) and not isinstance(model[1], nn.Identity)
    x = torch.randn(1, 2, 3, 3)
    torch.testing.assert_close(out(x), model(x))


def test_dropout_is_kept_in_training_mode():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5)).train()
    assert replace_dropout_with_identity(model) is model and isinstance(model[1], nn.Dropout)


def test_channels_last_converts_conv_weights_and_skips_models_without_conv():
    model, (x,) = models.resnet()
    converted = to_channels_last(model)
    assert converted.stem.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(converted(x.contiguous(memory_format=torch.channels_last)), model(x), rtol=1e-4, atol=1e-5)
    mlp = nn.Sequential(nn.Linear(3, 3))
    assert to_channels_last(mlp) is mlp


def test_prepack_fuses_relu_and_residual_add_and_matches_eager():
    model, (x,) = models.resnet()
    folded = fold_conv_bn(model)
    packed = prepack_weights(folded)
    convs = [m for m in packed.modules() if isinstance(m, PrepackedConv2d)]
    assert convs, "no convolution was prepacked"
    assert any(c.unary == "relu" for c in convs), "conv + relu was not fused"
    assert any(c.add_unary == "relu" for c in convs), "conv + residual add + relu was not fused"
    with torch.no_grad():
        torch.testing.assert_close(packed(x), model(x), rtol=1e-4, atol=1e-5)


def test_prepacked_state_dict_saves_loads_and_repacks():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1).eval()
    packed = prepack_weights(nn.Sequential(conv, nn.ReLU()).eval())
    buffer = io.BytesIO()
    torch.save(packed.state_dict(), buffer)
    other = prepack_weights(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()).eval())
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        other(x)  # packs the old weights
        other.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
        torch.testing.assert_close(other(x), torch.relu(conv(x)))


def test_prepacked_convolution_packs_for_the_size_of_its_first_input(monkeypatch):
    # Packed for no input size, oneDNN's layout made channels-last inputs reorder at every
    # call (5x slower on an AVX2 CPU); later inputs of other sizes reuse the packed weight.
    sizes = []
    reorder = torch.ops.mkldnn._reorder_convolution_weight

    def recording_reorder(*args):
        sizes.append(args[-1])
        return reorder(*args)

    monkeypatch.setattr(torch.ops.mkldnn, "_reorder_convolution_weight", recording_reorder)
    model = to_channels_last(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()).eval())
    packed = prepack_weights(model)
    x = torch.randn(2, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    bigger = torch.randn(4, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(packed(x), model(x), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(packed(bigger), model(bigger), rtol=1e-4, atol=1e-5)
    assert sizes == [[2, 3, 16, 16]]


def test_prepack_skips_training_mode_and_non_float32():
    model = nn.Sequential(nn.Conv2d(3, 4, 3)).train()
    assert prepack_weights(model) is model
    bf16 = nn.Sequential(nn.Conv2d(3, 4, 3)).eval().to(torch.bfloat16)
    assert not any(isinstance(m, PrepackedConv2d) for m in prepack_weights(bf16).modules())
