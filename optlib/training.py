"""Prepare a model and its optimizer for fast CPU training.

``optlib.optimize(model, optimizer=..., dtype=...)`` calls :func:`prepare_training` for a
model in training mode. Two things make CPU training faster or smaller here:

- a fused optimizer step (stock PyTorch's fused CPU kernels for SGD, Adagrad, Adam and AdamW,
  optlib's compiled LAMB), instead of the default for-loop;
- with ``dtype=torch.bfloat16`` and ``split_master_weight=True``, the weights of Linear,
  Conv and Embedding layers are held as bf16 top halves in the model and int16 bottom halves
  in the optimizer: 4 bytes per parameter with fp32-exact updates, instead of 6 for a bf16
  model with an fp32 master copy. The model then computes in bf16; run its forward pass
  under ``torch.autocast("cpu", dtype=torch.bfloat16)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim import Optimizer

from optlib.optim.fused import fuse_optimizer
from optlib.optim.split_bf16 import SplitMasterWeightOptimizer

__all__ = ["SPLIT_MODULE_TYPES", "SUPPORTED_TRAINING_DTYPES", "prepare_training",
           "splittable_parameters"]

SUPPORTED_TRAINING_DTYPES = (torch.float32, torch.bfloat16)

# Layers whose parameters autocast feeds to bf16 kernels anyway. Normalization layers keep
# fp32 parameters: their kernels take fp32 weights with bf16 inputs, and they are tiny.
SPLIT_MODULE_TYPES: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Bilinear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Embedding,
    nn.EmbeddingBag,
)


def splittable_parameters(model: nn.Module, optimizer: Optimizer) -> list[nn.Parameter]:
    """Parameters of Linear/Conv/Embedding layers that are fp32, trained, and in ``optimizer``."""
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    chosen: dict[int, nn.Parameter] = {}
    for module in model.modules():
        if not isinstance(module, SPLIT_MODULE_TYPES):
            continue
        for p in module.parameters(recurse=False):
            if p.requires_grad and p.dtype == torch.float32 and id(p) in in_optimizer:
                chosen.setdefault(id(p), p)
    return list(chosen.values())


def prepare_training(model: nn.Module, optimizer: Optimizer, *, dtype: torch.dtype | None,
                     split_master_weight: bool, fused: bool = True,
                     ) -> tuple[nn.Module, Optimizer]:
    """Return ``(model, optimizer)`` ready for training; the model is changed in place.

    The returned optimizer keeps the given one's class, param groups, hyper-parameters and
    state. ``optimize()`` hands in a copy of the user's model unless ``inplace=True``.
    """
    if dtype is not None and dtype not in SUPPORTED_TRAINING_DTYPES:
        supported = ", ".join(str(d) for d in SUPPORTED_TRAINING_DTYPES)
        raise ValueError(f"unsupported training dtype {dtype}; supported: None, {supported}")
    if split_master_weight and dtype != torch.bfloat16:
        raise ValueError(f"split_master_weight needs dtype=torch.bfloat16, got dtype={dtype}")
    if not model.training:
        raise ValueError("prepare_training needs a model in training mode (call model.train())")
    if isinstance(optimizer, SplitMasterWeightOptimizer):
        raise ValueError("this optimizer already holds split master weights; prepare it once")
    if fused:
        optimizer = fuse_optimizer(optimizer)
    if split_master_weight:
        optimizer = SplitMasterWeightOptimizer(optimizer, splittable_parameters(model, optimizer))
    return model, optimizer
