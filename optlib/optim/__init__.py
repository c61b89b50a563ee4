"""Optimizers with fused CPU steps, LAMB, and split bf16 master weights.

Importable on its own (``from optlib.optim import Lamb``): nothing here needs the rest of
optlib.
"""

from optlib.optim.fused import FUSABLE_OPTIMIZERS, fuse_optimizer, is_fused
from optlib.optim.lamb import Lamb
from optlib.optim.split_bf16 import SplitMasterWeightOptimizer, join_halves, split_fp32

__all__ = [
    "FUSABLE_OPTIMIZERS",
    "Lamb",
    "SplitMasterWeightOptimizer",
    "fuse_optimizer",
    "is_fused",
    "join_halves",
    "split_fp32",
]
