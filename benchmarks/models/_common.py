"""Helpers shared by the model modules: seeded generators and standard losses."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def first_tensor(output: Any) -> torch.Tensor:
    """The main output of a model that may return a tuple (sequence output, pooled, ...)."""
    while isinstance(output, (tuple, list)):
        output = output[0]
    return output


def mean_square_loss(output: Any) -> torch.Tensor:
    """A loss that needs no labels: enough to exercise backward and the optimizer step."""
    return first_tensor(output).float().pow(2).mean()


def classification_loss(labels: torch.Tensor) -> Any:
    def loss(output: Any) -> torch.Tensor:
        return F.cross_entropy(first_tensor(output).float(), labels)
    return loss


def image_batch(batch: int, size: int, seed: int) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=generator(seed))
