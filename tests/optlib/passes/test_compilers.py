"""The prepacked TorchScript route: same outputs as the packed module, offered to the race only
when there are packed Linears, rebuilt from the loaded weights after load_state_dict."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import optlib
from optlib import _frontend
from optlib.passes import prepack_linear
from optlib.passes.compilers import build_torchscript_prepacked
from optlib.passes.prepack import prepack_weights


class _Net(nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.mlp = nn.Sequential(nn.Linear(12, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mlp(x))


@pytest.fixture()
def always_pack(monkeypatch):
    monkeypatch.setattr(prepack_linear, "_packed_is_faster", lambda *args: True)


def test_traced_prepacked_module_matches_it(always_pack):
    model = _Net().eval()
    x = torch.randn(8, 12)
    packed = prepack_weights(model, sample_args=(x,))
    runner = build_torchscript_prepacked(packed, (x,))
    assert isinstance(runner, torch.jit.ScriptModule)
    with torch.no_grad():
        torch.testing.assert_close(runner(x), model(x), rtol=1e-5, atol=1e-6)
    # The module it was built from is unchanged (it still runs its own PrepackedLinear layers).
    assert any(isinstance(m, prepack_linear.PrepackedLinear) for m in packed.modules())
    assert not any(isinstance(m, torch.jit.ScriptModule) for m in packed.modules())


def test_refuses_what_it_cannot_build(always_pack):
    model = _Net().eval()
    x = torch.randn(8, 12)
    with pytest.raises(ValueError, match="no prepacked Linear"):
        build_torchscript_prepacked(model, (x,))
    with pytest.raises(ValueError, match="float32 only"):
        build_torchscript_prepacked(prepack_weights(model), (x,), torch.bfloat16)


def test_the_race_offers_it_for_packable_linears_and_it_runs_only_where_they_were_packed(monkeypatch):
    """Offered whether or not the timing packed a Linear (the candidates are part of the
    tuning cache's key, which must not follow a timing); where none was packed, it fails to
    build and is not chosen. A model without Linears is not offered it."""
    x = torch.randn(8, 12)
    monkeypatch.setattr(prepack_linear, "_packed_is_faster", lambda *args: False)
    report = optlib.optimize(_Net().eval(), sample_input=x, tune_seconds=0.05).tune_report
    status = {c.name: c.status for c in report.candidates}
    assert status["torchscript-prepacked"].startswith("failed") and report.chosen != "torchscript-prepacked"
    monkeypatch.setattr(prepack_linear, "_packed_is_faster", lambda *args: True)
    report = optlib.optimize(_Net().eval(), sample_input=x, tune_seconds=0.05).tune_report
    assert {c.name: c.status for c in report.candidates}["torchscript-prepacked"] == "ok"
    convolution = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    report = optlib.optimize(convolution, sample_input=torch.randn(1, 3, 8, 8), tune_seconds=0.05).tune_report
    assert "torchscript-prepacked" not in {c.name for c in report.candidates}


def test_when_chosen_it_runs_and_reloads_weights(always_pack, monkeypatch):
    real = _frontend.select_fastest_cached

    def only_prepacked(key, builders, *args, **kwargs):
        return real(None, {"torchscript-prepacked": builders["torchscript-prepacked"]}, *args, **kwargs)

    monkeypatch.setattr(_frontend, "select_fastest_cached", only_prepacked)
    x = torch.randn(8, 12)
    model = _Net().eval()
    optimized = optlib.optimize(model, sample_input=x)
    assert optimized.backend == "torchscript-prepacked"
    with torch.no_grad():
        torch.testing.assert_close(optimized(x), model(x), rtol=1e-5, atol=1e-6)
    other = _Net(seed=3).eval()
    optimized.load_state_dict({f"module.{k}": v for k, v in other.state_dict().items()})
    with torch.no_grad():
        torch.testing.assert_close(optimized(x), other(x), rtol=1e-5, atol=1e-6)
    assert optimized.backend == "torchscript-prepacked"
