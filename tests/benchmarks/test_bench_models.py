"""Every registered model builds at tiny size and runs one iteration of each mode it supports,
through the eager variant the suite uses as its baseline."""

from __future__ import annotations

import copy
import math
import tempfile

import pytest
import torch

from benchmarks.models import FAMILIES, BuildOptions, all_models
from benchmarks.variants import Context, get_variant

CASES = [(name, mode) for name, spec in all_models().items() for mode in spec.modes]


def test_registry_finds_every_family_and_the_issue_models() -> None:
    models = all_models()
    assert {spec.family for spec in models.values()} == set(FAMILIES)
    for name in ("resnet50", "resnet18", "mobilenet_v3_small", "bert_base", "gpt_small", "dlrm",
                 "gcn", "gin", "graphsage", "edgecnn"):
        assert name in models


@pytest.mark.parametrize(("name", "mode"), CASES, ids=[f"{n}-{m}" for n, m in CASES])
def test_model_runs_one_iteration(name: str, mode: str) -> None:
    spec = all_models()[name]
    workload = spec.build(BuildOptions(batch_size=2, tiny=True, seed=1))
    with tempfile.TemporaryDirectory() as tmp:
        prepared = get_variant("eager").prepare(
            mode, workload, Context(precision="fp32", channels_last=False, threads=1,
                                    workdir=tmp))
        if mode == "train":
            before = [p.detach().clone() for p in workload.model.parameters()]
            loss = prepared.run()
            assert math.isfinite(float(loss))
            after = list(workload.model.parameters())
            assert any(not torch.equal(b, a) for b, a in zip(before, after)), \
                "the optimizer step changed no parameter"
        elif mode == "generate":
            prefill_s, decode_s, tokens = prepared.run()
            assert prefill_s > 0 and decode_s > 0 and tokens >= 2
        else:
            out = prepared.run()
            first = out[0] if isinstance(out, tuple) else out
            assert first.shape[0] > 0 and torch.isfinite(first).all()


def test_builds_are_seeded() -> None:
    spec = all_models()["dlrm"]
    a = spec.build(BuildOptions(batch_size=4, tiny=True, seed=3))
    b = spec.build(BuildOptions(batch_size=4, tiny=True, seed=3))
    for x, y in zip(a.inputs, b.inputs):
        assert torch.equal(x, y)
    with torch.no_grad():
        assert torch.equal(a.model.eval()(*a.inputs), b.model.eval()(*b.inputs))


def test_gnn_batch_is_disjoint_copies_of_the_graph() -> None:
    one = all_models()["gcn"].build(BuildOptions(batch_size=1, tiny=True))
    three = all_models()["gcn"].build(BuildOptions(batch_size=3, tiny=True))
    assert three.samples_per_batch == 3 * one.samples_per_batch
    assert int(three.inputs[1].max()) < three.inputs[0].shape[0]


def test_dlrm_optlib_rewrite_computes_the_same_function() -> None:
    workload = all_models()["dlrm"].build(BuildOptions(batch_size=8, tiny=True, seed=2))
    model = workload.model.eval()
    with torch.no_grad():
        want = model(*workload.inputs)
        rewritten = workload.optlib_rewrite(copy.deepcopy(model))
        got = rewritten(*workload.inputs)
    assert type(rewritten.embeddings).__name__ == "MergedEmbeddingBag"
    assert type(rewritten.interaction).__module__.startswith("optlib")
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_dlrm_int8_quantizes_the_optlib_rewrite(tmp_path) -> None:
    """optlib-int8 measures the same optlib modules as the fp32 optlib variant, quantized."""
    import optlib.nn

    workload = all_models()["dlrm"].build(BuildOptions(batch_size=8, tiny=True, seed=2))
    seen: list[object] = []
    rewrite = workload.optlib_rewrite
    workload.optlib_rewrite = lambda model: seen.append(rewrite(model)) or seen[-1]
    prepared = get_variant("optlib-int8").prepare(
        "eval", workload, Context(precision="int8", channels_last=False, threads=1, workdir=str(tmp_path)))
    assert prepared.config["optlib_rewrite"] is True
    assert len(seen) == 1 and isinstance(seen[0].embeddings, optlib.nn.MergedEmbeddingBag)
    with torch.no_grad():
        want = workload.model.eval()(*workload.inputs)
    got = prepared.forward(*workload.inputs)
    sqnr = 10 * torch.log10(want.pow(2).mean() / (got - want).pow(2).mean())
    assert sqnr >= 20
