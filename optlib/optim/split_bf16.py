"""Split bf16 master weights: an fp32 weight kept as two 16-bit halves, 4 bytes in all.

A bf16 number is the top 16 bits of an fp32 number. So instead of a bf16 model plus an fp32
master copy (2 + 4 = 6 bytes per parameter), the model holds the top halves as its bf16
weights and the optimizer holds only the bottom halves (the "trail"). At each step the halves
are joined into the exact fp32 value, the wrapped optimizer updates it in fp32 (with its own
fused kernel), and the result is split again. The model computes with truncated weights, and
no precision is lost between steps: the fp32 values are those of an fp32-master run fed the
same gradients, bit for bit.

The join and split are plain 16-bit copies: on a little-endian machine an fp32 value is laid
out in memory as (low half, high half), so an fp32 tensor viewed as int16 pairs *is* the two
halves side by side.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from optlib.optim.fused import FUSABLE_OPTIMIZERS

__all__ = ["SplitMasterWeightOptimizer", "join_halves", "split_fp32"]

# Parameters are joined, stepped and split a bucket at a time, through two fp32 work buffers
# (joined weights, fp32 gradients) of this many elements (or the largest parameter's size):
# 32 MiB in all by default, whatever the model's size. The buffers live as long as the
# optimizer because fresh multi-megabyte allocations are returned to the OS on free and cost
# a page fault per 4 KiB at every step.
DEFAULT_BUCKET_NUMEL = 1 << 22

if sys.byteorder != "little":  # pragma: no cover - every supported CPU is little-endian
    raise ImportError("split bf16 master weights need a little-endian machine")


def split_fp32(value: Tensor) -> tuple[Tensor, Tensor]:
    """Split an fp32 tensor into (top half as bf16, bottom half as int16), both contiguous."""
    if value.dtype != torch.float32:
        raise ValueError(f"split_fp32 needs a float32 tensor, got {value.dtype}")
    pairs = value.contiguous().view(torch.int16).view(*value.shape, 2)
    top = pairs[..., 1].contiguous().view(torch.bfloat16)
    trail = pairs[..., 0].contiguous()
    return top, trail


def join_halves(top: Tensor, trail: Tensor, out: Tensor | None = None) -> Tensor:
    """The exact fp32 tensor whose top half is ``top`` (bf16) and bottom half ``trail`` (int16)."""
    if top.dtype != torch.bfloat16 or trail.dtype != torch.int16 or top.shape != trail.shape:
        raise ValueError(f"join_halves needs bf16 top and int16 trail of one shape, got "
                         f"{top.dtype}{tuple(top.shape)} and {trail.dtype}{tuple(trail.shape)}")
    if out is None:
        out = torch.empty(top.shape, dtype=torch.float32)
    pairs = out.view(torch.int16).view(*top.shape, 2)
    pairs[..., 1].copy_(top.view(torch.int16))
    pairs[..., 0].copy_(trail)
    return out


def _write_halves(value: Tensor, top: Tensor, trail: Tensor) -> None:
    pairs = value.view(torch.int16).view(*value.shape, 2)
    top.view(torch.int16).copy_(pairs[..., 1])
    trail.copy_(pairs[..., 0])


class SplitMasterWeightOptimizer(Optimizer):
    """Wraps a per-parameter optimizer so that chosen parameters keep split bf16 master weights.

    ``param_groups`` hold the model's own parameters (bf16 for the split ones), so LR
    schedulers and ``zero_grad`` work as usual; hyper-parameters set here are passed to the
    wrapped optimizer before each step. ``state_dict()`` is the wrapped optimizer's, plus the
    full fp32 value of every split parameter under ``"fp32_params"``; loading it restores
    both halves.
    """

    def __init__(self, optimizer: Optimizer, split: Iterable[nn.Parameter], *,
                 bucket_numel: int = DEFAULT_BUCKET_NUMEL) -> None:
        if type(optimizer) not in FUSABLE_OPTIMIZERS:
            names = ", ".join(c.__name__ for c in FUSABLE_OPTIMIZERS)
            raise ValueError(f"split master weights need a per-parameter optimizer; got "
                             f"{type(optimizer).__name__}, supported: {names}")
        if bucket_numel < 1:
            raise ValueError(f"bucket_numel must be >= 1, got {bucket_numel}")
        self.inner = optimizer
        self.bucket_numel = bucket_numel
        self._work: tuple[Tensor, Tensor] | None = None
        wanted = {id(p) for p in split}
        # model parameter -> (stand-in parameter the wrapped optimizer steps, bottom halves)
        self._halves: dict[nn.Parameter, tuple[nn.Parameter, Tensor]] = {}
        outer_groups = []
        for group in optimizer.param_groups:
            model_params = list(group["params"])
            for i, p in enumerate(model_params):
                if id(p) not in wanted or p in self._halves:
                    continue
                if p.dtype != torch.float32:
                    raise ValueError(f"only float32 parameters can be split, got {p.dtype}")
                stand_in = nn.Parameter(torch.empty(0), requires_grad=False)
                top, trail = split_fp32(p.detach())
                p.data = top
                p.grad = None  # an fp32 gradient cannot accumulate into a bf16 parameter
                self._halves[p] = (stand_in, trail)
                group["params"][i] = stand_in
                if p in optimizer.state:
                    optimizer.state[stand_in] = optimizer.state.pop(p)
            outer_groups.append({"params": model_params,
                                 **{k: v for k, v in group.items() if k != "params"}})
        super().__init__(outer_groups, dict(optimizer.defaults))

    @property
    def split_parameters(self) -> tuple[nn.Parameter, ...]:
        return tuple(self._halves)

    def is_split(self, param: nn.Parameter) -> bool:
        return param in self._halves

    def fp32_value(self, param: nn.Parameter) -> Tensor:
        """The exact fp32 weight of a split parameter (a new tensor)."""
        _, trail = self._halves[param]
        return join_halves(param.detach(), trail)

    def _sync_hyperparameters(self) -> None:
        for outer, inner in zip(self.param_groups, self.inner.param_groups):
            for key, value in outer.items():
                if key != "params":
                    inner[key] = value

    def _buckets(self) -> list[list[nn.Parameter]]:
        buckets: list[list[nn.Parameter]] = []
        size = self.bucket_numel
        for p in self._halves:
            if p.grad is None:
                continue
            if size + p.numel() > self.bucket_numel:
                buckets.append([])
                size = 0
            buckets[-1].append(p)
            size += p.numel()
        return buckets

    def _work_buffers(self) -> tuple[Tensor, Tensor]:
        if self._work is None:
            size = max([self.bucket_numel, *(p.numel() for p in self._halves)])
            self._work = (torch.empty(size, dtype=torch.float32),
                          torch.empty(size, dtype=torch.float32))
        return self._work

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._sync_hyperparameters()
        # Parameters that are not split are the model's own, stepped once by the wrapped
        # optimizer; their gradients are hidden while the split buckets are stepped.
        plain = [p for g in self.inner.param_groups for p in g["params"]
                 if p.grad is not None and p.numel() > 0]
        if plain:
            self.inner.step()
        hidden = [(p, p.grad) for p in plain]
        for p, _ in hidden:
            p.grad = None
        try:
            weights, grads = self._work_buffers()
            for bucket in self._buckets():
                offset = 0
                for p in bucket:
                    stand_in, trail = self._halves[p]
                    n = p.numel()
                    stand_in.data = join_halves(p.detach(), trail,
                                                out=weights[offset:offset + n].view(p.shape))
                    stand_in.grad = grads[offset:offset + n].view(p.shape).copy_(p.grad)
                    offset += n
                self.inner.step()
                for p in bucket:
                    stand_in, trail = self._halves[p]
                    _write_halves(stand_in.data, p.data, trail)
                    stand_in.data = torch.empty(0)
                    stand_in.grad = None
        finally:
            for p, grad in hidden:
                p.grad = grad
        return loss

    def state_dict(self) -> dict[str, Any]:
        self._sync_hyperparameters()
        state = self.inner.state_dict()
        index = {p: i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}
        state["fp32_params"] = {index[p]: self.fp32_value(p) for p in self._halves}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        fp32_params = state_dict.pop("fp32_params", {})
        self.inner.load_state_dict(state_dict)
        for outer, inner in zip(self.param_groups, self.inner.param_groups):
            outer.update({k: v for k, v in inner.items() if k != "params"})
        ordered = [p for g in self.param_groups for p in g["params"]]
        for i, value in fp32_params.items():
            p = ordered[int(i)]
            if p not in self._halves:
                raise ValueError(f"fp32_params[{i}] names a parameter that is not split")
            if tuple(value.shape) != tuple(p.shape):
                raise ValueError(f"fp32_params[{i}] has shape {tuple(value.shape)}, the "
                                 f"parameter has {tuple(p.shape)}")
            _, trail = self._halves[p]
            _write_halves(value.to(torch.float32).contiguous(), p.data, trail)
