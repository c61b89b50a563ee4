"""LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning"), for the CPU.

Per parameter tensor ``w`` with gradient ``g``, step ``t``:

    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    r = (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)      # Adam's direction
    u = r + weight_decay * w
    trust = ||w|| / ||u||   (1 when either norm is 0)                 # layer-wise ratio
    w = w - lr * trust * u

Stock PyTorch has no LAMB, and a for-loop LAMB walks each tensor's memory about ten times.
Three implementations share one signature (the pattern of ``torch/optim/adam.py``):

- ``single_tensor``: the definition, one tensor at a time; the reference.
- ``foreach``: the same arithmetic batched over all tensors with ``torch._foreach_*`` ops;
  fewer dispatches, the same number of passes over memory.
- ``fused``: a step compiled by inductor into one kernel that updates the moments and
  reduces both norms, and one that applies the update, so each tensor's memory is read about
  twice. Tensors too small to repay a compiled call go through ``foreach``. If compilation is
  impossible (no C++ compiler), the step warns once and falls back to ``foreach``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

__all__ = ["Lamb", "lamb"]

log = logging.getLogger(__name__)

# Below this many elements the compiled call's fixed cost (guards, launch) exceeds what fusion
# saves; measured on a 2-core AVX-512 machine, the crossover is around 32k elements.
FUSED_MIN_NUMEL = 1 << 16


class Lamb(Optimizer):
    """LAMB with Adam moments, bias correction and the layer-wise trust ratio.

    ``fused=True`` uses the compiled step, ``foreach=True`` the batched one, and neither the
    single-tensor definition. The default (both ``None``) is ``foreach``: it needs no compiler.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError(f"lr as a Tensor must have one element, got shape {tuple(lr.shape)}")
        if not 0.0 <= float(lr):
            raise ValueError(f"Invalid learning rate: {lr}; it must be >= 0")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}; it must be >= 0")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}; allowed: [0, 1)")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}; it must be >= 0")
        if fused and foreach:
            raise ValueError("fused=True and foreach=True cannot both be set; pick one")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("fused", None)

    def _init_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor],
                    exp_avgs: list[Tensor], exp_avg_sqs: list[Tensor], steps: list[Tensor]) -> None:
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("Lamb does not support sparse gradients")
            state = self.state[p]
            if len(state) == 0:
                state["step"] = torch.tensor(0.0, dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params: list[Tensor] = []
            grads: list[Tensor] = []
            exp_avgs: list[Tensor] = []
            exp_avg_sqs: list[Tensor] = []
            steps: list[Tensor] = []
            self._init_group(group, params, grads, exp_avgs, exp_avg_sqs, steps)
            beta1, beta2 = group["betas"]
            lamb(params, grads, exp_avgs, exp_avg_sqs, steps, lr=group["lr"], beta1=beta1,
                 beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                 foreach=group["foreach"], fused=group["fused"])
        return loss


def lamb(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
         exp_avg_sqs: list[Tensor], state_steps: list[Tensor], *, lr: float | Tensor,
         beta1: float, beta2: float, eps: float, weight_decay: float,
         foreach: bool | None = None, fused: bool | None = None) -> None:
    """Functional LAMB: updates ``params`` and the moment buffers in place."""
    if not (len(params) == len(grads) == len(exp_avgs) == len(exp_avg_sqs) == len(state_steps)):
        raise ValueError("params, grads, exp_avgs, exp_avg_sqs and state_steps must have equal lengths")
    if fused and foreach:
        raise ValueError("fused=True and foreach=True cannot both be set; pick one")
    if not params:
        return
    kwargs = dict(lr=float(lr), beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
    if fused:
        _fused_lamb(params, grads, exp_avgs, exp_avg_sqs, state_steps, **kwargs)
    elif foreach or foreach is None:
        _multi_tensor_lamb(params, grads, exp_avgs, exp_avg_sqs, state_steps, **kwargs)
    else:
        _single_tensor_lamb(params, grads, exp_avgs, exp_avg_sqs, state_steps, **kwargs)


def _trust_ratio(w_norm: Tensor, u_norm: Tensor) -> Tensor:
    both_positive = (w_norm > 0) & (u_norm > 0)
    return torch.where(both_positive, w_norm / torch.where(both_positive, u_norm, 1.0), 1.0)


def _single_tensor_lamb(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                        exp_avg_sqs: list[Tensor], state_steps: list[Tensor], *, lr: float,
                        beta1: float, beta2: float, eps: float, weight_decay: float) -> None:
    for w, g, m, v, step in zip(params, grads, exp_avgs, exp_avg_sqs, state_steps):
        step += 1
        t = step.item()
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        update = (m / (1 - beta1 ** t)) / (v.sqrt() / (1 - beta2 ** t) ** 0.5 + eps)
        if weight_decay != 0:
            update = update.add(w, alpha=weight_decay)
        trust = _trust_ratio(torch.linalg.vector_norm(w), torch.linalg.vector_norm(update))
        w.sub_(update * (trust * lr))


def _multi_tensor_lamb(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                       exp_avg_sqs: list[Tensor], state_steps: list[Tensor], *, lr: float,
                       beta1: float, beta2: float, eps: float, weight_decay: float) -> None:
    torch._foreach_add_(state_steps, 1.0)
    bias1 = [1 - beta1 ** s.item() for s in state_steps]
    bias2_sqrt = [(1 - beta2 ** s.item()) ** 0.5 for s in state_steps]
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
    # r = (m / bias1) / (sqrt(v) / sqrt(bias2) + eps), evaluated as the definition orders it.
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denom, bias2_sqrt)
    torch._foreach_add_(denom, eps)
    updates = torch._foreach_div(exp_avgs, bias1)
    torch._foreach_div_(updates, denom)
    del denom
    if weight_decay != 0:
        torch._foreach_add_(updates, params, alpha=weight_decay)
    w_norms = torch._foreach_norm(params)
    u_norms = torch._foreach_norm(updates)
    scales = [_trust_ratio(wn, un) * lr for wn, un in zip(w_norms, u_norms)]
    torch._foreach_mul_(updates, scales)
    torch._foreach_sub_(params, updates)


def _lamb_one_tensor(w: Tensor, g: Tensor, m: Tensor, v: Tensor, bias1: Tensor,
                     bias2_sqrt: Tensor, lr: Tensor, beta1: float, beta2: float, eps: float,
                     weight_decay: float) -> None:
    """One tensor's LAMB update, written for inductor to fuse into two passes.

    The bias corrections come in as float32 scalars computed in double precision, as the
    other implementations compute them, so all three round alike.
    """
    m.lerp_(g, 1 - beta1)
    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    update = (m / bias1) / (v.sqrt() / bias2_sqrt + eps) + weight_decay * w
    w_norm = w.square().sum().sqrt()
    u_norm = update.square().sum().sqrt()
    w.sub_(update * (_trust_ratio(w_norm, u_norm) * lr))


_compiled_step: Callable[..., None] | None = None
_compile_failed = False


def _compiled() -> Callable[..., None] | None:
    global _compiled_step
    if _compiled_step is None and not _compile_failed:
        # dynamic=True: one compiled kernel serves every tensor size, so a model's many
        # shapes cost one compilation, not one each.
        _compiled_step = torch.compile(_lamb_one_tensor, dynamic=True, fullgraph=True)
    return _compiled_step


def _fused_lamb(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                exp_avg_sqs: list[Tensor], state_steps: list[Tensor], *, lr: float,
                beta1: float, beta2: float, eps: float, weight_decay: float) -> None:
    global _compile_failed
    small: list[int] = []
    step_fn = _compiled()
    lr_t = torch.tensor(lr, dtype=torch.float32)
    for i, (w, g, m, v, s) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs, state_steps)):
        eligible = (step_fn is not None and w.numel() >= FUSED_MIN_NUMEL and w.is_contiguous()
                    and g.is_contiguous() and w.dtype == g.dtype == m.dtype == v.dtype)
        if not eligible:
            small.append(i)
            continue
        t = s.item() + 1
        bias1 = torch.tensor(1 - beta1 ** t, dtype=torch.float32)
        bias2_sqrt = torch.tensor((1 - beta2 ** t) ** 0.5, dtype=torch.float32)
        try:
            step_fn(w.view(-1), g.view(-1), m.view(-1), v.view(-1), bias1, bias2_sqrt, lr_t,
                    beta1, beta2, eps, weight_decay)
            s += 1
        except Exception as err:  # a missing compiler shows up here, at first use
            _compile_failed = True
            step_fn = None
            warnings.warn(f"optlib Lamb: the compiled step is unavailable ({type(err).__name__}: "
                          f"{err}); using the foreach step instead", RuntimeWarning, stacklevel=3)
            small.append(i)
    if small:
        pick = lambda xs: [xs[i] for i in small]  # noqa: E731
        _multi_tensor_lamb(pick(params), pick(grads), pick(exp_avgs), pick(exp_avg_sqs),
                           pick(state_steps), lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                           weight_decay=weight_decay)
