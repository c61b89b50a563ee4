"""optlib: make a PyTorch model faster on the CPU with one call.

    model = optlib.optimize(model.eval(), sample_input=x)            # inference
    model, opt = optlib.optimize(model.train(), optimizer=opt,        # training
                                 dtype=torch.bfloat16)

``optlib.quantization`` holds the INT8 flow, ``optlib.nn`` the fused modules, ``optlib.cpu``
the CPU's facts, ``optlib.optim`` the fused optimizers and ``optlib.runtime`` core pools.
Submodules other than the inference core load lazily, so ``import optlib`` stays cheap and
never fails because an optional part is missing.
"""

from __future__ import annotations

import importlib
from typing import Any

from optlib._log import OptlibWarning
from optlib._module import OptimizedModule
from optlib.config import OptimizeConfig
from optlib._frontend import optimize

__version__ = "0.1.0"

_LAZY_SUBMODULES = ("passes", "quantization", "nn", "cpu", "gnn", "optim", "runtime", "training", "launch")

__all__ = ["OptimizeConfig", "OptimizedModule", "OptlibWarning", "optimize", *_LAZY_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f"optlib.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'optlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
