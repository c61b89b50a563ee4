"""Fused optimizers match their for-loop references, step for step (cf. PyTorch's
``test_fused_matches_forloop``): 20 steps, several param groups, weight decay, zero gradients,
a parameter without gradient, and ``load_state_dict`` in the middle of the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import optlib.optim.lamb as lamb_module
from optlib.optim import FUSABLE_OPTIMIZERS, Lamb, fuse_optimizer, is_fused

STEPS = 20
RELOAD_AT = 10


def reference_lamb_step(w: Tensor, g: Tensor, state: dict[str, Any], *, lr: float,
                        betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    """LAMB written from the paper (Algorithm 2), one tensor, no shared code with optlib."""
    beta1, beta2 = betas
    state["step"] = state.get("step", 0) + 1
    t = state["step"]
    m = state["exp_avg"] = beta1 * state.get("exp_avg", torch.zeros_like(w)) + (1 - beta1) * g
    v = state["exp_avg_sq"] = beta2 * state.get("exp_avg_sq", torch.zeros_like(w)) + (1 - beta2) * g * g
    m_hat = m / (1 - beta1 ** t)
    r = m_hat / (v.sqrt() / (1 - beta2 ** t) ** 0.5 + eps)
    u = r + weight_decay * w
    w_norm, u_norm = w.norm().item(), u.norm().item()
    trust = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
    w.sub_(lr * trust * u)


class ReferenceLamb:
    """A minimal optimizer around :func:`reference_lamb_step` with torch's group layout."""

    def __init__(self, groups: list[dict[str, Any]], **defaults: Any) -> None:
        self.param_groups = [{**defaults, **g, "params": list(g["params"])} for g in groups]
        self.state: dict[Tensor, dict[str, Any]] = {}

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    reference_lamb_step(p, p.grad, self.state.setdefault(p, {}), lr=group["lr"],
                                        betas=group["betas"], eps=group["eps"],
                                        weight_decay=group["weight_decay"])


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[..., Any]  # (groups, **impl) -> optimizer
    reference_impl: dict[str, Any]
    kwargs: dict[str, Any]


def _torch(cls: type) -> Callable[..., Any]:
    return lambda groups, **kw: cls(groups, **kw)


CASES = [
    Case("sgd", _torch(torch.optim.SGD), {"foreach": False}, dict(lr=0.05)),
    Case("sgd_momentum_wd", _torch(torch.optim.SGD), {"foreach": False},
         dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    Case("sgd_nesterov", _torch(torch.optim.SGD), {"foreach": False},
         dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    Case("adagrad", _torch(torch.optim.Adagrad), {"foreach": False},
         dict(lr=0.05, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1)),
    Case("adam", _torch(torch.optim.Adam), {"foreach": False}, dict(lr=0.01, weight_decay=0.01)),
    Case("adam_amsgrad", _torch(torch.optim.Adam), {"foreach": False},
         dict(lr=0.01, amsgrad=True)),
    Case("adamw", _torch(torch.optim.AdamW), {"foreach": False},
         dict(lr=0.01, weight_decay=0.1)),
    Case("lamb", _torch(Lamb), {"foreach": False}, dict(lr=0.01, weight_decay=0.01)),
    Case("lamb_vs_paper", lambda groups, **kw: ReferenceLamb(groups, **kw), {},
         dict(lr=0.01, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01)),
]


def make_params(seed: int = 0) -> list[nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(24, 16), (16,), (300,), (7, 3, 3), (5,)]
    params = [nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    with torch.no_grad():
        params[4].zero_()  # ||w|| = 0 exercises LAMB's trust-ratio guard
    return params


def groups_of(params: list[nn.Parameter]) -> list[dict[str, Any]]:
    # Two groups with their own hyper-parameters; the last parameter never gets a gradient.
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.02, "weight_decay": 0.0}]


def feed_gradients(params: list[nn.Parameter], step: int, g: torch.Generator) -> None:
    for i, p in enumerate(params):
        if i == 3:
            p.grad = None  # a parameter without gradient
        elif step % 5 == 2:
            p.grad = torch.zeros_like(p)  # a zero gradient
        else:
            p.grad = torch.randn(p.shape, generator=g)


def state_tensors(optimizer: Any, params: list[nn.Parameter]) -> list[Tensor]:
    out = []
    for p in params:
        for key, value in sorted(optimizer.state.get(p, {}).items()):
            out.append(torch.as_tensor(value, dtype=torch.float32).reshape(-1))
    return out


def assert_close_rel(actual: list[Tensor], expected: list[Tensor]) -> None:
    """Within 1e-6 relative to each tensor's scale (elementwise relative error is
    meaningless for entries that cross zero)."""
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        scale = e.abs().max().item() if e.numel() else 0.0
        torch.testing.assert_close(a, e, rtol=1e-6, atol=1e-6 * max(scale, 1e-12))


def run_pair(case: Case, fused_impl: Callable[[list[dict[str, Any]]], Any]) -> None:
    params_ref, params_opt = make_params(), make_params()
    reference = case.make(groups_of(params_ref), **case.kwargs, **case.reference_impl)
    optimizer = fused_impl(groups_of(params_opt))
    g_ref, g_opt = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    for step in range(STEPS):
        feed_gradients(params_ref, step, g_ref)
        feed_gradients(params_opt, step, g_opt)
        reference.step()
        optimizer.step()
        if step == RELOAD_AT:
            saved = optimizer.state_dict()
            optimizer = fused_impl(groups_of(params_opt))
            optimizer.load_state_dict(saved)
    assert_close_rel([p.detach() for p in params_opt], [p.detach() for p in params_ref])
    assert_close_rel(state_tensors(optimizer, params_opt), state_tensors(reference, params_ref))


@pytest.mark.parametrize("case", [c for c in CASES if c.name != "lamb_vs_paper"],
                         ids=lambda c: c.name)
def test_fuse_optimizer_matches_forloop(case: Case) -> None:
    def fused(groups: list[dict[str, Any]]) -> Any:
        plain = case.make(groups, **case.kwargs)
        made = fuse_optimizer(plain)
        assert is_fused(made) and type(made) is type(plain)
        return made

    run_pair(case, fused)


@pytest.mark.parametrize("impl", [{"foreach": False}, {"foreach": True}, {"fused": True}],
                         ids=["single_tensor", "foreach", "fused"])
def test_lamb_matches_paper_reference(impl: dict[str, bool], monkeypatch: pytest.MonkeyPatch) -> None:
    # Route every tensor through the compiled kernel, not only large ones.
    monkeypatch.setattr(lamb_module, "FUSED_MIN_NUMEL", 1)
    case = next(c for c in CASES if c.name == "lamb_vs_paper")
    run_pair(case, lambda groups: Lamb(groups, **case.kwargs, **impl))


def test_fuse_keeps_groups_hyperparameters_and_state() -> None:
    params = make_params()
    plain = torch.optim.Adam(groups_of(params), lr=0.003, betas=(0.8, 0.9), weight_decay=0.5)
    for p in params:
        p.grad = torch.ones_like(p)
    plain.step()
    fused = fuse_optimizer(plain)
    assert fused is not plain and plain.param_groups[0]["fused"] is None
    for before, after in zip(plain.param_groups, fused.param_groups):
        assert after["params"] == before["params"]
        for key in ("lr", "betas", "weight_decay", "eps", "amsgrad"):
            assert after[key] == before[key], key
        assert after["fused"] is True
    for p in params:
        for key, value in plain.state[p].items():
            torch.testing.assert_close(fused.state[p][key], value, rtol=0, atol=0)


def test_unfusable_optimizer_is_kept_with_a_warning() -> None:
    optimizer = torch.optim.RMSprop(make_params(), lr=0.01)
    with pytest.warns(RuntimeWarning, match="no fused step for RMSprop"):
        assert fuse_optimizer(optimizer) is optimizer


def test_fusable_table_is_what_torch_fuses_on_cpu() -> None:
    for cls in FUSABLE_OPTIMIZERS:
        p = nn.Parameter(torch.ones(3))
        optimizer = cls([p], lr=0.1, fused=True)
        p.grad = torch.ones(3)
        optimizer.step()
        assert not torch.equal(p.detach(), torch.ones(3)), cls.__name__


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "learning rate"),
    (dict(betas=(1.0, 0.9)), "beta parameter at index 0"),
    (dict(eps=-1e-8), "epsilon"),
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(fused=True, foreach=True), "cannot both be set"),
])
def test_lamb_rejects_bad_hyperparameters(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Lamb([nn.Parameter(torch.ones(2))], **kwargs)


def test_lamb_is_a_torch_optimizer() -> None:
    params = make_params()
    optimizer = Lamb(groups_of(params), lr=0.01)
    assert isinstance(optimizer, torch.optim.Optimizer)
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    optimizer.zero_grad()
    assert all(p.grad is None for p in params)
    saved = optimizer.state_dict()
    assert saved["param_groups"][1]["lr"] == 0.02
    assert float(saved["state"][0]["step"]) == 1.0
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.005)
