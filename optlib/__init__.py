"""optlib: make a PyTorch model faster on the CPU with one call.

    model = optlib.optimize(model.eval(), sample_input=x)            # inference
    model, opt = optlib.optimize(model.train(), optimizer=opt,        # training
                                 dtype=torch.bfloat16)

``optlib.quantization`` holds the INT8 flow, ``optlib.nn`` the fused modules, ``optlib.cpu``
the CPU's facts, ``optlib.optim`` the fused optimizers and ``optlib.runtime`` core pools.
Everything loads lazily, on first use, so ``import optlib`` stays cheap, never fails because
an optional part is missing, and ``python -m optlib.launch`` starts a program without first
importing torch itself (2.4 s of a launch otherwise).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY_SUBMODULES = ("passes", "quantization", "nn", "cpu", "gnn", "optim", "runtime", "training", "launch")
# Public names and the module each lives in.
_LAZY_NAMES = {
    "OptimizeConfig": "optlib.config",
    "OptimizedModule": "optlib._module",
    "OptlibWarning": "optlib._log",
    "optimize": "optlib._frontend",
}

__all__ = [*_LAZY_NAMES, *_LAZY_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        value = importlib.import_module(f"optlib.{name}")
    elif name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    else:
        raise AttributeError(f"module 'optlib' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES) | set(_LAZY_NAMES))
