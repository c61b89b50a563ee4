"""Store a CNN's activations and weights channels-last (NHWC).

oneDNN's convolutions run natively on NHWC; on NCHW input every convolution reorders its
input and output. The pass converts the weights; :class:`optlib.OptimizedModule` converts 4-D
inputs at the boundary, so the whole network stays in NHWC.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from optlib._log import logger


def has_2d_convolution(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def to_channels_last(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Convert the 4-D parameters of a model that has a ``Conv2d`` to channels-last."""
    if not has_2d_convolution(model):
        logger.debug("channels_last: model has no Conv2d; layout unchanged")
        return model
    model = model if inplace else copy.deepcopy(model)
    return model.to(memory_format=torch.channels_last)


def input_to_channels_last(value):
    """Convert a 4-D floating tensor (possibly inside a tuple or list) to channels-last."""
    if isinstance(value, torch.Tensor):
        if value.dim() == 4 and value.is_floating_point() and not value.is_mkldnn:
            return value.contiguous(memory_format=torch.channels_last)
        return value
    if isinstance(value, (tuple, list)):
        return type(value)(input_to_channels_last(v) for v in value)
    return value
