"""Split bf16 master weights: the halves recombine, bit for bit, into the weights of an
fp32-master run fed the same gradients; state_dict carries the full fp32 weights."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from optlib.optim import Lamb, SplitMasterWeightOptimizer, fuse_optimizer, join_halves, split_fp32
from optlib.training import prepare_training

OPTIMIZERS: list[tuple[str, Callable[..., torch.optim.Optimizer]]] = [
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adagrad", lambda p: torch.optim.Adagrad(p, lr=0.05, weight_decay=0.01)),
    ("adam", lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.01)),
    ("adamw", lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
    ("lamb", lambda p: Lamb(p, lr=0.01, weight_decay=0.01)),
]


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(50, 16), nn.Linear(16, 32), nn.LayerNorm(32),
                         nn.Linear(32, 8))


def test_split_and_join_are_exact() -> None:
    values = torch.randn(1000) * torch.logspace(-30, 30, 1000)
    values[:4] = torch.tensor([0.0, -0.0, float("inf"), float("nan")])
    top, trail = split_fp32(values)
    assert top.dtype == torch.bfloat16 and trail.dtype == torch.int16
    joined = join_halves(top, trail)
    assert torch.equal(joined.view(torch.int32), values.view(torch.int32))
    # the top half is the truncation of the fp32 value, what the model computes with
    truncated = (values.view(torch.int32) & ~0xFFFF).view(torch.float32)
    assert torch.equal(top.float()[4:], truncated[4:])


@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[n for n, _ in OPTIMIZERS])
@pytest.mark.parametrize("bucket_numel", [1 << 24, 300], ids=["one_bucket", "many_buckets"])
def test_recombined_weights_equal_fp32_master_bit_for_bit(
        name: str, make: Callable[..., torch.optim.Optimizer], bucket_numel: int) -> None:
    model, reference = make_model(), make_model()
    optimizer = fuse_optimizer(make(model.parameters()))
    split = SplitMasterWeightOptimizer(
        optimizer, [p for m in model if not isinstance(m, nn.LayerNorm) for p in m.parameters()],
        bucket_numel=bucket_numel)
    ref_optimizer = fuse_optimizer(make(reference.parameters()))
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        for p, q in zip(model.parameters(), reference.parameters()):
            grad = torch.randn(p.shape, generator=g).to(p.dtype)  # bf16 for split parameters
            p.grad, q.grad = grad, grad.float()
        split.step()
        ref_optimizer.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        full = split.fp32_value(p) if split.is_split(p) else p.detach()
        assert torch.equal(full.view(torch.int32), q.detach().view(torch.int32)), name


def test_state_dict_saves_fp32_weights_and_load_restores_both_halves() -> None:
    model = make_model()
    _, optimizer = prepare_training(model, torch.optim.Adam(model.parameters(), lr=0.01),
                                    dtype=torch.bfloat16, split_master_weight=True)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    optimizer.step()
    saved = copy.deepcopy(optimizer.state_dict())
    expected = {i: v.clone() for i, v in saved["fp32_params"].items()}
    assert all(v.dtype == torch.float32 for v in expected.values())
    assert len(expected) == 5  # the embedding weight, both linears' weights and biases

    for _ in range(3):  # move away from the saved point
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        optimizer.step()
    optimizer.load_state_dict(saved)
    params = list(model.parameters())
    for i, value in expected.items():
        assert torch.equal(optimizer.fp32_value(params[i]).view(torch.int32),
                           value.view(torch.int32))
        assert torch.equal(params[i].detach(), split_fp32(value)[0])


def test_split_model_trains_under_autocast_and_uses_four_bytes_per_weight() -> None:
    model = make_model()
    fp32_bytes = sum(p.numel() * 4 for p in model.parameters())
    model, optimizer = prepare_training(model, torch.optim.AdamW(model.parameters(), lr=0.01),
                                        dtype=torch.bfloat16, split_master_weight=True)
    split = optimizer.split_parameters
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    trail_bytes = sum(optimizer._halves[p][1].numel() * 2 for p in split)
    assert weight_bytes + trail_bytes == fp32_bytes  # 2 + 2 bytes where fp32 had 4
    tokens = torch.randint(0, 50, (6,))
    losses = []
    for _ in range(5):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(tokens).float().pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_lr_scheduler_changes_reach_the_wrapped_optimizer() -> None:
    model = make_model()
    _, optimizer = prepare_training(model, torch.optim.SGD(model.parameters(), lr=0.1),
                                    dtype=torch.bfloat16, split_master_weight=True)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.1)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    scheduler.step()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    assert optimizer.inner.param_groups[0]["lr"] == pytest.approx(0.01)


@pytest.mark.parametrize("kwargs, message", [
    (dict(dtype=torch.float16, split_master_weight=False), "unsupported training dtype"),
    (dict(dtype=torch.float32, split_master_weight=True), "needs dtype=torch.bfloat16"),
])
def test_prepare_training_rejects_bad_options(kwargs: dict[str, Any], message: str) -> None:
    model = make_model()
    with pytest.raises(ValueError, match=message):
        prepare_training(model, torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


def test_prepare_training_fuses_without_splitting() -> None:
    model = make_model()
    given = torch.optim.Adam([{"params": list(model[:2].parameters())},
                              {"params": list(model[2:].parameters()), "lr": 0.5}], lr=0.01)
    returned_model, optimizer = prepare_training(model, given, dtype=torch.bfloat16,
                                                 split_master_weight=False)
    assert returned_model is model
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert type(optimizer) is torch.optim.Adam
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, 0.5]
    assert all(g["fused"] for g in optimizer.param_groups)
