"""optimize(): every family matches eager fp32 at O1, state_dict round-trips, bad input is named."""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from torch import nn

import optlib
from optlib import OptimizeConfig, OptimizedModule, OptlibWarning, _frontend
from tests.optlib import models

FAMILIES = list(models.FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_o1_eager_backend_matches_fp32(family):
    model, args = models.FAMILIES[family]()
    with torch.no_grad():
        expected = model(*args)
    optimized = optlib.optimize(model, backend="eager", sample_input=args)
    assert isinstance(optimized, OptimizedModule)
    assert models.rel_err(optimized(*args), expected) <= 1e-4


@pytest.mark.parametrize("family", ["resnet", "bert", "dlrm"])
def test_o1_torchscript_backend_matches_fp32(family):
    model, args = models.FAMILIES[family]()
    with torch.no_grad():
        expected = model(*args)
    optimized = optlib.optimize(model, backend="torchscript", sample_input=args)
    assert optimized.backend == "torchscript"
    assert models.rel_err(optimized(*args), expected) <= 1e-4


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_exported_runtime_takes_the_callers_layout(backend, monkeypatch):
    """A CNN is made channels_last, but an exported runtime gets its inputs as the caller
    passes them: no layout conversion at the boundary, none in the measurement either."""
    pytest.importorskip(backend)
    model, args = models.FAMILIES["resnet"]()
    with torch.no_grad():
        expected = model(*args)
    seen: list[bool] = []
    build = _frontend._BUILDERS[backend]

    def recording_build(module, sample, dtype, **options):
        seen.append(all(a.is_contiguous() for a in sample))
        return build(module, sample, dtype, **options)

    monkeypatch.setitem(_frontend._BUILDERS, backend, recording_build)
    optimized = optlib.optimize(model, backend=backend, sample_input=args)
    assert optimized.backend == backend and seen == [True]
    assert optimized.channels_last is False  # nothing converted per call
    assert models.rel_err(optimized(*args), expected) <= 1e-4


@pytest.fixture
def export_count(monkeypatch) -> list[int]:
    """Counts the ONNX exports optimize makes (each is a real export)."""
    from optlib.passes import backends

    real, calls = backends.export_onnx, []

    def counted(module, sample):
        calls.append(1)
        return real(module, sample)

    monkeypatch.setattr(backends, "export_onnx", counted)
    return calls


@pytest.fixture
def without_compilers(monkeypatch) -> None:
    """Keeps the torch compilers out of an "auto" race: these tests are about the exported
    runtimes, and compiling would only make them slower."""
    from optlib.passes.autotune import SkipCandidate

    def skipped(*_args, **_options):
        raise SkipCandidate("not under test")

    for name in ("torchscript", "torchscript-prepacked", "inductor", "inductor-default"):
        monkeypatch.setitem(_frontend._BUILDERS, name, skipped)


def test_the_exported_runtimes_race_on_one_export(export_count, without_compilers):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    model, args = models.resnet()
    optimized = optlib.optimize(model, sample_input=args, tune_seconds=0.05, tune_cache=False)
    statuses = {c.name: c.status for c in optimized.tune_report.candidates}
    assert statuses["onnxruntime"] == "ok" and statuses["openvino"] == "ok"
    assert statuses["inductor"] == "skipped: not under test"
    assert len(export_count) == 1


def test_embedding_bag_models_skip_the_exported_runtimes_unexported(export_count, without_compilers):
    pytest.importorskip("onnxruntime")
    model, args = models.dlrm()
    with torch.no_grad():
        expected = model(*args)
    optimized = optlib.optimize(model, sample_input=args, tune_seconds=0.05, tune_cache=False)
    statuses = {c.name: c.status for c in optimized.tune_report.candidates}
    assert statuses["onnxruntime"].startswith("skipped: the model has EmbeddingBag tables")
    assert export_count == [] and optimized.backend == "eager"
    assert models.rel_err(optimized(*args), expected) <= 1e-4


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_an_exported_runtime_runs_the_weights_it_loads(backend, export_count):
    """After load_state_dict the runtime is built again from a new export, not from the one
    it was chosen with."""
    pytest.importorskip(backend)
    model, args = models.resnet()
    optimized = optlib.optimize(model, backend=backend, sample_input=args)
    other_model, _ = models.resnet(seed=7)
    with torch.no_grad():
        expected = other_model(*args)
    optimized.load_state_dict(optlib.optimize(other_model, backend="eager").state_dict())
    assert optimized.backend == backend
    assert models.rel_err(optimized(*args), expected) <= 1e-4
    assert len(export_count) == 2


@pytest.mark.slow
def test_o1_inductor_backend_matches_fp32():
    model, args = models.dlrm()
    with torch.no_grad():
        expected = model(*args)
    optimized = optlib.optimize(model, backend="inductor", sample_input=args)
    assert optimized.backend == "inductor"
    assert models.rel_err(optimized(*args), expected) <= 1e-4


@pytest.mark.slow
def test_auto_backend_measures_candidates_and_matches_fp32():
    model, args = models.resnet()
    with torch.no_grad():
        expected = model(*args)
    optimized = optlib.optimize(model, sample_input=args, tune_seconds=0.2)
    report = optimized.tune_report
    assert report is not None and report.chosen == optimized.backend
    assert {"eager", "torchscript", "inductor"} <= {c.name for c in report.candidates}
    assert models.rel_err(optimized(*args), expected) <= 1e-4


@pytest.mark.parametrize("family", ["resnet", "dlrm"])
def test_state_dict_saves_and_loads(family):
    model, args = models.FAMILIES[family]()
    optimized = optlib.optimize(model, backend="torchscript", sample_input=args)
    buffer = io.BytesIO()
    torch.save(optimized.state_dict(), buffer)
    other_model, _ = models.FAMILIES[family](seed=7)
    other = optlib.optimize(other_model, backend="torchscript", sample_input=args)
    other(*args)
    other.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
    torch.testing.assert_close(other(*args), optimized(*args), rtol=1e-5, atol=1e-6)


def test_callers_model_is_untouched_unless_inplace():
    model, args = models.resnet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optlib.optimize(model, backend="eager")
    assert isinstance(model.bn, nn.BatchNorm2d) and isinstance(model.dropout, nn.Dropout)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    optlib.optimize(model, backend="eager", inplace=True)
    assert isinstance(model.dropout, nn.Identity)


def test_o0_changes_nothing():
    model, _ = models.resnet()
    assert optlib.optimize(model, level="O0") is model


def test_config_object_and_keyword_overrides():
    model, args = models.resnet()
    config = OptimizeConfig(level="O1", graph_mode=False, weights_prepack=False)
    optimized = optlib.optimize(model, config=config, channels_last=False)
    assert optimized.backend == "eager" and optimized.channels_last is False
    assert not any(isinstance(m, optlib.passes.PrepackedConv2d) for m in optimized.modules())
    assert models.rel_err(optimized(*args), model(*args)) <= 1e-4


@pytest.mark.parametrize("make, optimizer, match", [
    (lambda: nn.Linear(2, 2).eval(), True, "optimizer was given but the model is in eval mode"),
    (lambda: nn.Linear(2, 2).train(), False, "training mode but no optimizer was given"),
])
def test_mode_and_optimizer_must_agree(make, optimizer, match):
    model = make()
    opt = torch.optim.SGD(model.parameters(), lr=0.1) if optimizer else None
    with pytest.raises(ValueError, match=match):
        optlib.optimize(model, optimizer=opt)


def test_unsupported_dtype_lists_the_supported_ones():
    with pytest.raises(ValueError, match="unsupported dtype torch.float16; supported: None, torch.float32, torch.bfloat16"):
        optlib.optimize(nn.Linear(2, 2).eval(), dtype=torch.float16)


def test_failing_pass_falls_back_and_warns_once(monkeypatch):
    def explode(model, inplace=False):
        raise RuntimeError("boom")

    monkeypatch.setattr("optlib._frontend.fold_conv_bn", explode)
    model, args = models.resnet()
    with pytest.warns(OptlibWarning, match="pass conv_bn_folding failed and was skipped: RuntimeError: boom"):
        optimized = optlib.optimize(model, backend="eager")
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptlibWarning)
        optlib.optimize(model, backend="eager")  # the same failure does not warn again
    assert models.rel_err(optimized(*args), model(*args)) <= 1e-4


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        n = int(x.abs().sum().item()) % 3 + 1  # a Python int from data: no tracer can keep this
        for _ in range(n):
            x = self.lin(x)
        return x


def test_untraceable_model_still_runs_and_matches():
    model = DataDependent().eval()
    x = torch.randn(2, 4)
    optimized = optlib.optimize(model, backend="torchscript", sample_input=(x,))
    for _ in range(3):
        y = torch.randn(2, 4) * 3
        torch.testing.assert_close(optimized(y), model(y))


def test_runner_failure_at_call_time_falls_back_with_one_warning():
    model, args = models.dlrm()

    def broken_builder():
        def run(*a):
            raise RuntimeError("kernel crashed")
        return run

    optimized = OptimizedModule(model, backend="inductor", builder=broken_builder)
    with pytest.warns(OptlibWarning, match=r"graph_mode \(inductor\) failed"):
        out = optimized(*args)
    torch.testing.assert_close(out, model(*args))
    assert optimized.backend == "eager"


def test_other_shapes_go_to_the_eager_module_for_shape_specialized_runners():
    model, args = models.resnet()
    optimized = optlib.optimize(model, backend="torchscript", sample_input=args)
    bigger = torch.randn(3, 3, 20, 20)
    assert models.rel_err(optimized(bigger), model(bigger)) <= 1e-4


@pytest.mark.parametrize("backend", ["eager", "torchscript"])
def test_bf16_runs_under_autocast(backend):
    model, args = models.resnet()
    optimized = optlib.optimize(model, dtype=torch.bfloat16, backend=backend, sample_input=args)
    assert optimized.backend == backend
    out = optimized(*args)
    assert out.dtype == torch.bfloat16
    assert models.rel_err(out, model(*args)) < 5e-2


def test_training_applies_safe_passes_and_calls_prepare_training(monkeypatch):
    calls = {}

    def fake_prepare(model, optimizer, *, dtype, split_master_weight, fused=True):
        calls.update(dtype=dtype, split=split_master_weight, fused=fused, model=model, optimizer=optimizer)
        return model, optimizer

    monkeypatch.setattr("optlib.training.prepare_training", fake_prepare)
    model, _ = models.resnet()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    new_model, new_opt = optlib.optimize(model, optimizer=opt, dtype=torch.bfloat16)
    assert calls == dict(dtype=torch.bfloat16, split=True, fused=True, model=new_model, optimizer=new_opt)
    assert new_model is not model and isinstance(new_model.bn, nn.BatchNorm2d), "training must keep BN"
    assert isinstance(new_model.dropout, nn.Dropout), "training must keep dropout"
    new_params = {id(p) for p in new_model.parameters()}
    assert all(id(p) in new_params for g in new_opt.param_groups for p in g["params"])


@pytest.mark.parametrize("native, level, message", [
    (True, "INFO", "bf16 runs natively on this CPU"),
    (False, "WARNING", "has no native bf16 .* slower than float32"),
])
def test_bf16_support_is_stated_once(monkeypatch, caplog, native, level, message):
    from optlib import _frontend
    from optlib.cpu import cpu_info

    real = cpu_info()
    fake = type("FakeInfo", (), {"has_native_bf16": native, "model_name": real.model_name})()
    monkeypatch.setattr("optlib.cpu.cpu_info", lambda: fake)
    monkeypatch.setattr(_frontend, "_stated", set())
    caplog.set_level("INFO", logger="optlib")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            optlib.optimize(nn.Linear(2, 2).eval(), dtype=torch.bfloat16, backend="eager")
    stated = [r for r in caplog.records if "bf16" in r.getMessage()]
    assert len(stated) == 1 and stated[0].levelname == level
    import re
    assert re.search(message, stated[0].getMessage())
    assert len([w for w in caught if issubclass(w.category, OptlibWarning)]) == (0 if native else 1)


def test_a_copy_runs_its_own_eager_module():
    import copy

    model, args = models.dlrm()
    optimized = optlib.optimize(model, backend="torchscript", sample_input=args)
    clone = copy.deepcopy(optimized)
    assert clone.backend == "eager"
    with torch.no_grad():
        for p in clone.parameters():
            p.mul_(0)
    assert not torch.equal(clone(*args), optimized(*args)), "the copy must not share weights or runner"
    torch.testing.assert_close(optimized(*args), model(*args), rtol=1e-4, atol=1e-6)


class ThreadProbe(nn.Module):
    def forward(self, x):
        return x + torch.get_num_threads()


def test_measured_thread_count_applies_during_the_call_only():
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # so that the measured count differs from the process's
    try:
        optimized = OptimizedModule(ThreadProbe().eval(), num_threads=1)
        assert optimized(torch.zeros(1)).item() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_graph_mode_pass_callable_alone():
    model, args = models.dlrm()
    compiled = optlib.passes.graph_mode(model, sample_input=args, backend="torchscript")
    assert compiled.backend == "torchscript"
    assert isinstance(compiled.module.bottom[1], nn.BatchNorm1d), "graph_mode alone must not run the other passes"
    assert models.rel_err(compiled(*args), model(*args)) <= 1e-4
