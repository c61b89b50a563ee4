"""Variants: the ways one model is run (stock eager, optlib, torch.compile, AOT Inductor,
optlib INT8, ONNX Runtime, OpenVINO), found by scanning this package.

A variant module defines ``VARIANT = VariantSpec(...)``: which modes and precisions it can
run, which packages it needs (a missing one makes its benchmarks *skipped*, with the reason),
and up to three ``prepare_*`` functions the benchmark subprocess calls. Like the model
modules, variant modules import torch only inside those functions.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.registry import discover

__all__ = ["PRECISIONS", "Context", "Prepared", "VariantSpec", "all_variants", "get_variant"]

PRECISIONS = ("fp32", "bf16", "int8")


@dataclass(frozen=True)
class Context:
    """What a variant needs to know beyond the workload."""

    precision: str
    channels_last: bool
    threads: int
    workdir: str


@dataclass
class Prepared:
    """A variant's runnable: ``run()`` does one timed iteration (eval: a forward on the
    workload's inputs; train: forward, backward and optimizer step, returning the loss;
    generate: one generation). ``config`` records how the variant was built (optlib's
    ``OptimizeConfig``, compile options) so that a result can be reproduced."""

    run: Callable[[], Any]
    config: dict[str, Any]
    forward: Callable[..., Any] | None = None


PrepareFn = Callable[[Any, Context], Prepared]


@dataclass(frozen=True)
class VariantSpec:
    name: str
    description: str
    modes: tuple[str, ...]
    precisions: tuple[str, ...]
    requires: tuple[str, ...] = ()
    prepare_eval: PrepareFn | None = None
    prepare_train: PrepareFn | None = None
    prepare_generate: PrepareFn | None = None
    baseline: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.precisions) - set(PRECISIONS)
        if unknown:
            raise ValueError(f"variant {self.name}: unknown precisions {sorted(unknown)}; "
                             f"known: {', '.join(PRECISIONS)}")
        for mode in self.modes:
            if getattr(self, f"prepare_{mode}", None) is None:
                raise ValueError(f"variant {self.name} lists mode {mode!r} without prepare_{mode}")

    def supports(self, mode: str, precision: str) -> bool:
        if precision == "int8" and mode != "eval":
            return False
        return mode in self.modes and precision in self.precisions

    def missing_packages(self) -> list[str]:
        return [name for name in self.requires if importlib.util.find_spec(name) is None]

    def prepare(self, mode: str, workload: Any, context: Context) -> Prepared:
        fn = getattr(self, f"prepare_{mode}", None)
        if fn is None or mode not in self.modes:
            raise ValueError(f"variant {self.name} does not run mode {mode!r}; "
                             f"it runs: {', '.join(self.modes)}")
        return fn(workload, context)


@functools.cache
def all_variants() -> dict[str, VariantSpec]:
    found = discover(__name__, __path__, "VARIANT", VariantSpec)
    baseline_first = sorted(found.values(), key=lambda v: (not v.baseline, v.name))
    return {v.name: v for v in baseline_first}


def get_variant(name: str) -> VariantSpec:
    variants = all_variants()
    if name not in variants:
        raise ValueError(f"unknown variant {name!r}; known: {', '.join(variants)}")
    return variants[name]
