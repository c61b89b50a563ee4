"""Linear prepacking: same outputs as the stock layers, ReLUs fused inside Sequentials,
state_dict unchanged, and the layers whose owners read their weights directly left alone."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn

from optlib.passes import prepack_weights
from optlib.passes.prepack_linear import PrepackedLinear, prepack_linears


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 1)).eval()


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mlp = _mlp()
        self.head = nn.Linear(1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.head(self.mlp(x)))


def test_sequential_relus_are_fused_and_outputs_match():
    model = _Net().eval()
    x = torch.randn(8, 13)
    packed = prepack_weights(model)
    assert packed is not model
    layers = [m for m in packed.modules() if isinstance(m, PrepackedLinear)]
    assert [m.unary for m in layers] == ["relu", "relu", "none", "none"]
    assert not any(isinstance(m, nn.ReLU) for m in packed.mlp.modules())
    with torch.no_grad():
        torch.testing.assert_close(packed(x), model(x), rtol=1e-5, atol=1e-6)
        # A 3-D input and a non-contiguous one take the same path.
        x3 = torch.randn(2, 5, 13)
        torch.testing.assert_close(packed(x3), model(x3), rtol=1e-5, atol=1e-6)
        xt = torch.randn(13, 8).t()
        torch.testing.assert_close(packed(xt), model(xt), rtol=1e-5, atol=1e-6)


def test_state_dict_keys_are_unchanged_and_loading_repacks():
    model = _Net().eval()
    packed = prepack_weights(model)
    assert list(packed.state_dict()) == list(model.state_dict())
    x = torch.randn(4, 13)
    with torch.no_grad():
        packed(x)  # packs with the old weights
        other = _Net().eval()
        for p in other.parameters():
            p.data.normal_()
        packed.load_state_dict(other.state_dict())
        torch.testing.assert_close(packed(x), other(x), rtol=1e-4, atol=1e-4)


def test_copies_and_pickles_repack_on_first_use():
    packed = prepack_weights(_Net().eval())
    x = torch.randn(4, 13)
    with torch.no_grad():
        expected = packed(x)
        for clone in (copy.deepcopy(packed), pickle.loads(pickle.dumps(packed))):
            torch.testing.assert_close(clone(x), expected)


def test_autograd_and_other_dtypes_take_the_stock_path():
    layer = PrepackedLinear(nn.Linear(6, 4).eval(), "relu")
    x = torch.randn(3, 6, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and layer.weight.grad is not None
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x.detach().bfloat16())
    assert out.dtype == torch.bfloat16


def test_layers_that_read_their_weights_and_unpackable_ones_stay():
    encoder = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True).eval()
    attention = nn.MultiheadAttention(16, 2, batch_first=True).eval()
    model = nn.ModuleDict({"encoder": encoder, "attention": attention,
                           "f64": nn.Linear(4, 4).double().eval(), "fc": nn.Linear(4, 4).eval()})
    prepack_linears(model)
    assert isinstance(model["fc"], PrepackedLinear)
    assert type(model["f64"]) is nn.Linear
    assert type(encoder.linear1) is nn.Linear and type(attention.out_proj) is not PrepackedLinear
    training = _Net().train()
    assert prepack_weights(training) is training


def test_a_traced_conv_model_keeps_its_relus():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5), nn.ReLU()).eval()
    packed = prepack_weights(model)
    assert isinstance(packed, torch.fx.GraphModule)
    assert any(isinstance(m, PrepackedLinear) for m in packed.modules())
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(packed(x), model(x), rtol=1e-5, atol=1e-5)


def test_unknown_unary_is_refused():
    with pytest.raises(ValueError, match="unsupported unary"):
        PrepackedLinear(nn.Linear(2, 2), "gelu")


def test_with_sample_args_only_the_layers_measured_faster_are_packed(monkeypatch):
    from optlib.passes import prepack_linear

    measured = []

    def wider_wins(linear, packed, x):
        measured.append((linear.in_features, tuple(x.shape)))
        return linear.out_features >= 32

    monkeypatch.setattr(prepack_linear, "_packed_is_faster", wider_wins)
    model = _Net().eval()
    model.unused = nn.Linear(5, 64)  # never called: no input to measure it on
    x = torch.randn(8, 13)
    packed = prepack_weights(model, sample_args=(x,))
    # Each called layer was timed on the input it sees in the model.
    assert sorted(measured) == [(1, (8, 1)), (13, (8, 13)), (16, (8, 16)), (32, (8, 32))]
    kinds = [type(m).__name__ for m in packed.mlp]
    assert kinds == ["PrepackedLinear", "Linear", "ReLU", "Linear"]  # the slower layer keeps its ReLU
    assert type(packed.unused) is nn.Linear and type(packed.head) is nn.Linear
    with torch.no_grad():
        torch.testing.assert_close(packed(x), model(x), rtol=1e-5, atol=1e-6)


def test_layers_of_one_shape_are_timed_once_and_decided_alike(monkeypatch):
    """A timing that flips its answer each call (as noise does on equal layers) decides once
    per shape: the three 16->16 layers share the first answer, the 16->4 head gets its own."""
    from optlib.passes import prepack_linear

    answers = iter([True, False, True, False])
    timed = []

    def flipping(linear, packed, x):
        timed.append((linear.in_features, linear.out_features, tuple(x.shape)))
        return next(answers)

    monkeypatch.setattr(prepack_linear, "_packed_is_faster", flipping)
    model = nn.Sequential(nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 4)).eval()
    x = torch.randn(8, 16)
    packed = prepack_weights(model, sample_args=(x,))
    assert timed == [(16, 16, (8, 16)), (16, 4, (8, 16))]
    assert [type(m).__name__ for m in packed] == ["PrepackedLinear"] * 3 + ["Linear"]
    with torch.no_grad():
        torch.testing.assert_close(packed(x), model(x), rtol=1e-5, atol=1e-6)


def test_the_per_layer_timing_keeps_the_faster_form():
    import time as _time

    from optlib.passes.prepack_linear import _packed_is_faster

    class _Sleeping:
        unary = "none"

        def __init__(self, seconds: float) -> None:
            self.seconds = seconds

        def __call__(self, x):
            _time.sleep(self.seconds)
            return x

    x = torch.randn(2, 4)
    assert not _packed_is_faster(_Sleeping(0.0), _Sleeping(0.002), x)
    assert _packed_is_faster(_Sleeping(0.002), _Sleeping(0.0), x)


def test_nested_sequentials_are_fused_at_every_level():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), nn.Linear(8, 8), nn.ReLU()).eval()
    packed = prepack_weights(model)
    assert [m.unary for m in packed.modules() if isinstance(m, PrepackedLinear)] == ["relu", "relu"]
    assert not any(isinstance(m, nn.ReLU) for m in packed.modules())
    x = torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(packed(x), model(x), rtol=1e-5, atol=1e-6)
