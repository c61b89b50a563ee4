"""The INT8 flow end to end: accuracy (SQNR), recipes, and deployment in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from optlib import OptimizedModule
from optlib import quantization as Q
from tests.optlib import models

REPO_ROOT = Path(__file__).resolve().parents[3]
# torch 2.13 announces the future removal of quantized tensors, on which its int8 kernels run.
pytestmark = pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")


def sqnr(out: torch.Tensor, ref: torch.Tensor) -> float:
    return (10 * torch.log10(ref.pow(2).mean() / (out - ref).pow(2).mean())).item()


def calibrated(family: str, config: Q.QuantConfig | None = None):
    model, args = models.FAMILIES[family]()
    prepared = Q.prepare(model, args, config)
    for seed in range(1, 5):
        _, batch = models.FAMILIES[family](seed=seed)
        prepared(*batch)
    return model, args, prepared


@pytest.mark.parametrize("family, modes", [
    ("resnet", {"static"}),
    ("bert", {"dynamic"}),
    ("dlrm", {"static", "weight_only"}),
    ("gcn", {"static"}),  # PyTorch Geometric's own Linear inside GCNConv
    ("sage", {"static"}),
])
def test_converted_model_keeps_sqnr_above_20_db(family, modes):
    model, args, prepared = calibrated(family)
    recipe = Q.recipe_of(prepared)
    assert {m.mode for m in recipe.modules.values()} == modes
    with torch.no_grad():
        assert sqnr(prepared(*args), model(*args)) > 60, "observers must not change the float outputs"
        plain = Q.convert(prepared, optimize=False)
        assert sqnr(plain(*args), model(*args)) >= 20


@pytest.mark.slow
@pytest.mark.parametrize("family", ["resnet", "bert"])
def test_routed_model_runs_the_fastest_accurate_runtime(family):
    model, args, prepared = calibrated(family)
    routed = Q.convert(prepared, tune_seconds=0.1)
    assert isinstance(routed, OptimizedModule) and routed.tune_report is not None
    names = {c.name for c in routed.tune_report.candidates}
    assert {"eager", "torchscript", "openvino"} <= names
    if family == "bert":
        assert "openvino-static-linear" in names, "a transformer must also be tried with static Linears"
    with torch.no_grad():
        assert sqnr(routed(*args), model(*args)) >= 20, routed.tune_report.summary()
    chosen_recipe = Q.recipe_of(routed)
    assert chosen_recipe.modules.keys() <= Q.recipe_of(prepared).modules.keys()


@pytest.mark.parametrize("family", ["gcn", "sage"])
def test_gnn_int8_is_also_tried_with_csr_aggregation_giving_the_same_outputs(family):
    """The int8 Linears alone leave PyG's per-edge gather/scatter as slow as in fp32: the
    router also offers the quantized model with CSR aggregation, which computes the same
    outputs, on the calibration graph and on any other."""
    from optlib.gnn import CSRGCNConv, CSRSAGEConv
    from optlib.quantization.routing import Variant

    model, args, prepared = calibrated(family)
    plain = Q.convert(prepared, optimize=False)
    csr = Variant("csr", plain, "csr").build(args)
    assert isinstance(csr.conv1, (CSRGCNConv, CSRSAGEConv)) and isinstance(csr.conv2, (CSRGCNConv, CSRSAGEConv))
    other = models.graph(nodes=150, edges=700, seed=9)
    with torch.no_grad():
        for inputs in (args, other):
            torch.testing.assert_close(csr(*inputs), plain(*inputs), rtol=1e-4, atol=1e-5)
        routed = Q.convert(prepared, tune_seconds=0.05, tune_cache=False)
        assert "csr" in {c.name for c in routed.tune_report.candidates}
        assert sqnr(routed(*args), model(*args)) >= 20
        torch.testing.assert_close(routed(*other), plain(*other), rtol=1e-4, atol=1e-5)


def test_recipe_is_readable_json_with_the_documented_fields(tmp_path):
    _, _, prepared = calibrated("dlrm")
    path = tmp_path / "int8.json"
    Q.save_recipe(prepared, path)
    data = json.loads(path.read_text())
    assert data["format"] == "optlib-int8-recipe" and data["backend"] == "x86"
    linear = data["modules"]["bottom.0"]
    assert linear["op"] == "linear" and linear["mode"] == "static"
    assert linear["input"]["dtype"] == "quint8" and linear["input"]["qscheme"] == "per_tensor_affine"
    assert isinstance(linear["input"]["scale"], float)
    assert linear["weight"]["qscheme"] == "per_channel_symmetric" and len(linear["weight"]["scale"]) == 32
    assert set(linear["weight"]["zero_point"]) == {0.0}
    assert data["modules"]["embeddings.0"]["mode"] == "weight_only"


def test_loaded_recipe_reproduces_the_calibrated_model(tmp_path):
    model, args, prepared = calibrated("resnet")
    Q.save_recipe(prepared, tmp_path / "int8.json")
    reference = Q.convert(prepared, optimize=False)(*args)
    fresh = Q.prepare(model, args)  # never calibrated
    Q.load_recipe(fresh, tmp_path / "int8.json")
    torch.testing.assert_close(Q.convert(fresh, optimize=False)(*args), reference, rtol=0, atol=0)


def test_edited_recipe_is_followed(tmp_path):
    model, args, prepared = calibrated("resnet")
    data = Q.recipe_of(prepared).to_dict()
    del data["modules"]["fc"]                               # keep the classifier in fp32
    data["modules"]["stem"]["output"]["scale"] *= 4         # a coarser output scale
    (tmp_path / "edited.json").write_text(json.dumps(data))
    Q.load_recipe(prepared, tmp_path / "edited.json")
    quantized = Q.convert(prepared, optimize=False)
    assert type(quantized.fc) is nn.Linear
    assert quantized.layer1.conv1.qmodule is not None
    assert quantized.stem.qmodule.scale == pytest.approx(data["modules"]["stem"]["output"]["scale"])


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(format="other"), "not an optlib INT8 recipe"),
    (lambda d: d["modules"]["stem"].update(mode="fp8"), "mode 'fp8' unsupported"),
    (lambda d: d["modules"]["stem"]["input"].update(scale=-1.0), "every scale must be positive"),
    (lambda d: d["modules"].update(ghost=d["modules"]["stem"]), "does not have: \\['ghost'\\]"),
    (lambda d: d["modules"]["stem"].update(op="linear"), "says 'stem' is linear"),
])
def test_malformed_recipes_are_rejected_by_name(tmp_path, edit, match):
    _, _, prepared = calibrated("resnet")
    data = Q.recipe_of(prepared).to_dict()
    edit(data)
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(Q.RecipeError, match=match):
        Q.load_recipe(prepared, tmp_path / "bad.json")


def test_convert_without_calibration_says_what_to_do():
    model, args = models.resnet()
    with pytest.raises(ValueError, match="saw no calibration data"):
        Q.convert(Q.prepare(model, args))


def test_config_validation():
    with pytest.raises(ValueError, match="unsupported linear_mode 'fast'; supported: auto, static, dynamic"):
        Q.QuantConfig(linear_mode="fast")


def test_linear_mode_can_be_forced():
    _, _, prepared = calibrated("bert", Q.QuantConfig(linear_mode="static"))
    assert {m.mode for m in Q.recipe_of(prepared).modules.values()} == {"static"}


SCRIPT = """
import sys, torch
from optlib import OptimizedModule
from optlib import quantization as Q
model = Q.load(sys.argv[1])
inputs = torch.load(sys.argv[2])
with torch.no_grad():
    torch.save(model(*inputs), sys.argv[3])
print(sorted(model.optlib_recipe["modules"])[0])
"""


@pytest.mark.parametrize("family", ["resnet", "dlrm", "bert", "gcn"])
def test_saved_model_gives_the_same_outputs_in_a_fresh_process(tmp_path, family):
    model, args, prepared = calibrated(family)
    quantized = Q.convert(prepared, optimize=False)
    Q.save(quantized, tmp_path / "model.pt", args)
    torch.save(args, tmp_path / "inputs.pt")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "model.pt"), str(tmp_path / "inputs.pt"), str(tmp_path / "out.pt")],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() in Q.recipe_of(prepared).modules
    with torch.no_grad():
        torch.testing.assert_close(torch.load(tmp_path / "out.pt"), quantized(*args), rtol=1e-5, atol=1e-5)


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1])


def test_quantize_dynamic_handles_linear_and_lstm():
    torch.manual_seed(0)
    model = Recurrent().eval()
    x = torch.randn(3, 5, 8)
    quantized = Q.quantize_dynamic(model)
    assert type(quantized.lstm).__module__.startswith("torch.ao.nn.quantized.dynamic")
    assert type(quantized.head).__module__.startswith("torch.ao.nn.quantized.dynamic")
    assert type(model.head) is nn.Linear, "the caller's model must be untouched"
    with torch.no_grad():
        assert sqnr(quantized(x), model(x)) >= 20
