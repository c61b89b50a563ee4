"""Rebuild an optimizer so that its step is fused: one pass over each parameter's memory.

PyTorch 2.13 has fused CPU kernels for SGD, Adagrad, Adam and AdamW, but on the CPU they
run only when asked for (``fused=True``); the default is the for-loop implementation, which
walks each tensor once per arithmetic operation. optlib's :class:`~optlib.optim.Lamb` has a
compiled fused step. Any other optimizer is returned unchanged, with a warning, because
fusing it would mean re-implementing it.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import torch
from torch.optim import Optimizer

from optlib.optim.lamb import Lamb

__all__ = ["FUSABLE_OPTIMIZERS", "fuse_optimizer", "is_fused"]

# Exact classes only: a user's subclass may override step() and would silently lose it.
FUSABLE_OPTIMIZERS: tuple[type[Optimizer], ...] = (
    torch.optim.SGD,
    torch.optim.Adagrad,
    torch.optim.Adam,
    torch.optim.AdamW,
    Lamb,
)


def is_fused(optimizer: Optimizer) -> bool:
    """True when every param group of ``optimizer`` takes the fused path."""
    return all(bool(group.get("fused")) for group in optimizer.param_groups)


def _constructor_kwargs(cls: type[Optimizer], defaults: dict[str, Any]) -> dict[str, Any]:
    accepted = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in defaults.items() if k in accepted and k != "params"}


def fuse_optimizer(optimizer: Optimizer) -> Optimizer:
    """Return an optimizer of the same class over the same parameters, with a fused step.

    Param groups keep their order and hyper-parameters; any state the optimizer already holds
    (moments, step counts) is carried over through ``state_dict``, so a run can be fused
    mid-way. The given optimizer is not modified.
    """
    cls = type(optimizer)
    if cls not in FUSABLE_OPTIMIZERS:
        names = ", ".join(c.__name__ for c in FUSABLE_OPTIMIZERS)
        warnings.warn(f"optlib has no fused step for {cls.__name__}; it is kept as is "
                      f"(fusable: {names})", RuntimeWarning, stacklevel=2)
        return optimizer
    if is_fused(optimizer):
        return optimizer
    groups = []
    for group in optimizer.param_groups:
        hyper = {k: v for k, v in group.items() if k != "params"}
        hyper.update(fused=True, foreach=None)
        groups.append({"params": list(group["params"]), **hyper})
    defaults = dict(optimizer.defaults, fused=True, foreach=None)
    try:
        fused = cls(groups, **_constructor_kwargs(cls, defaults))
    except (RuntimeError, ValueError) as err:
        warnings.warn(f"{cls.__name__} cannot take its fused step here ({err}); the optimizer "
                      "is kept as is", RuntimeWarning, stacklevel=2)
        return optimizer
    if optimizer.state:
        fused.load_state_dict(optimizer.state_dict())
        for group in fused.param_groups:
            group.update(fused=True, foreach=None)
    return fused
