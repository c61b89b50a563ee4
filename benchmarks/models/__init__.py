"""The model zoo: one module per model, found by scanning this package.

A model module defines ``MODEL = ModelSpec(...)``: its name, family, supported modes, default
batch sizes, and a ``build`` function that makes the network and its seeded inputs. Modules
must not import torch at import time (their networks live in ``_nets`` and are imported by
``build``), so that listing the suite or expanding a matrix stays instant in the parent
process, which never runs a model itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from benchmarks.registry import discover

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["FAMILIES", "BuildOptions", "ModelSpec", "Workload", "all_models", "get_model"]

FAMILIES = ("cnn", "transformer", "recsys", "gnn")
MODES = ("eval", "train", "generate")


@dataclass(frozen=True)
class BuildOptions:
    """How to build one model: ``tiny`` shrinks every dimension so tests run in milliseconds."""

    batch_size: int
    tiny: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass
class Workload:
    """A built model with everything a variant needs to run it.

    ``inputs`` is the positional argument tuple of ``model``. ``loss`` turns the model's
    output into the scalar that training backpropagates. ``calibration(i)`` gives the i-th
    calibration batch for static quantization (different data from ``inputs``).
    ``generate(module)`` runs one generation with ``module`` and returns (prefill seconds,
    decode seconds, tokens generated per sequence) where ``module`` is ``generation_model`` (the
    cache-aware network, called as ``module(tokens, past)``) after a variant transformed it;
    ``generate_inputs`` is its prompt. Only models with a ``generate`` mode have these.
    ``optlib_rewrite(module)`` swaps stock submodules for optlib's fused ones, where a model
    has such a rewrite. ``optimizer`` names the optimizer training uses (``sgd``, ``adamw``).
    ``samples_per_batch`` is what throughput counts (images, sequences,
    queries, graph nodes).
    """

    model: nn.Module
    inputs: tuple[Any, ...]
    batch_size: int
    samples_per_batch: int
    loss: Callable[[Any], torch.Tensor]
    calibration: Callable[[int], tuple[Any, ...]]
    generate: Callable[[Any], tuple[float, float, int]] | None = None
    generation_model: nn.Module | None = None
    generate_inputs: tuple[Any, ...] | None = None
    optlib_rewrite: Callable[[nn.Module], nn.Module] | None = None
    optimizer: str = "sgd"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    description: str
    build: Callable[[BuildOptions], Workload]
    eval_batch: int
    train_batch: int
    offline_batch: int
    modes: tuple[str, ...] = ("eval", "train")
    requires: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"model {self.name}: unknown family {self.family!r}; "
                             f"known: {', '.join(FAMILIES)}")
        unknown = set(self.modes) - set(MODES)
        if unknown:
            raise ValueError(f"model {self.name}: unknown modes {sorted(unknown)}; "
                             f"known: {', '.join(MODES)}")
        for label, value in (("eval_batch", self.eval_batch), ("train_batch", self.train_batch),
                             ("offline_batch", self.offline_batch)):
            if value < 1:
                raise ValueError(f"model {self.name}: {label} must be >= 1, got {value}")

    def default_batch(self, mode: str) -> int:
        return self.train_batch if mode == "train" else self.eval_batch


@functools.cache
def all_models() -> dict[str, ModelSpec]:
    """Every ``MODEL`` defined by a public module of this package, by name."""
    found = discover(__name__, __path__, "MODEL", ModelSpec)
    return dict(sorted(found.items()))


def get_model(name: str) -> ModelSpec:
    models = all_models()
    if name not in models:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(models)}")
    return models[name]
