"""Pieces every variant shares: autocast for bf16, the training step, output flattening."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from benchmarks.variants import Context, Prepared


def autocast(precision: str) -> contextlib.AbstractContextManager[Any]:
    """bf16 means autocast (what users run); fp32 and int8 run without it."""
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_channels_last(model: nn.Module, context: Context) -> nn.Module:
    if context.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def make_optimizer(model: nn.Module, kind: str) -> torch.optim.Optimizer:
    if kind == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=1e-4)
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    raise ValueError(f"unknown optimizer {kind!r}; known: adamw, sgd")


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer,
               loss: Callable[[Any], torch.Tensor], inputs: tuple[Any, ...],
               precision: str) -> Callable[[], torch.Tensor]:
    def step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with autocast(precision):
            output = model(*inputs)
        value = loss(output)
        value.backward()
        optimizer.step()
        return value.detach()
    return step


def eval_prepared(forward: Callable[..., Any], inputs: tuple[Any, ...], precision: str,
                  config: dict[str, Any]) -> Prepared:
    """Wraps a forward callable: no autograd, autocast for bf16, the workload's inputs."""

    def call(*args: Any) -> Any:
        with torch.no_grad(), autocast(precision):
            return forward(*args)

    return Prepared(run=lambda: call(*inputs), config=config, forward=call)


def generate_prepared(module: Any, workload: Any, precision: str,
                      config: dict[str, Any]) -> Prepared:
    def call(*args: Any) -> Any:
        with torch.no_grad(), autocast(precision):
            return module(*args)

    def run() -> Any:
        with torch.no_grad(), autocast(precision):
            return workload.generate(module)

    return Prepared(run=run, config=config, forward=call)


def flatten_tensors(output: Any) -> Iterator[torch.Tensor]:
    """Every tensor (or array) in a nested output, as float32 tensors, in a stable order."""
    if isinstance(output, torch.Tensor):
        yield output.detach().float()
    elif isinstance(output, dict) or hasattr(output, "values") and not hasattr(output, "shape"):
        for value in output.values():
            yield from flatten_tensors(value)
    elif isinstance(output, (list, tuple)):
        for item in output:
            yield from flatten_tensors(item)
    elif hasattr(output, "__array__"):
        yield torch.as_tensor(output.__array__()).float()
