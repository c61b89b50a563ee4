"""``OptimizeConfig``: every knob of :func:`optlib.optimize` as one frozen, validated value.

A benchmark result must say exactly how a model was optimized, so the configuration is a
dataclass that round-trips through a plain dict (``to_dict`` / ``from_dict``) and can be stored
next to the figures it produced. Knobs left ``None`` take the value of the level: ``O0``
changes nothing, ``O1`` turns on every pass that is safe.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

import torch

LEVELS = ("O0", "O1")
BACKENDS = ("auto", "eager", "torchscript", "inductor", "inductor-default", "onnxruntime", "openvino")
SUPPORTED_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}

# The boolean knobs a level decides. O1 enables them all: each pass checks its own
# preconditions and is a no-op where they fail, so "on" is always safe.
_LEVEL_KNOBS = (
    "conv_bn_folding",
    "linear_bn_folding",
    "replace_dropout_with_identity",
    "channels_last",
    "weights_prepack",
    "graph_mode",
    "sparse_gnn",
    "split_master_weight_for_bf16",
    "fuse_update_step",
    "retain_freed_memory",
)


def dtype_name(dtype: torch.dtype | None) -> str | None:
    """The config's spelling of a dtype (``None`` means keep the model's fp32)."""
    if dtype is None:
        return None
    for name, value in SUPPORTED_DTYPES.items():
        if value == dtype:
            return name
    raise ValueError(f"unsupported dtype {dtype}; supported: None, {', '.join('torch.' + n for n in SUPPORTED_DTYPES)}")


def parse_dtype(value: torch.dtype | str | None) -> torch.dtype | None:
    """Accept a torch dtype, its name (``"bfloat16"``, ``"torch.bfloat16"``) or ``None``."""
    if value is None or isinstance(value, torch.dtype):
        dtype_name(value)
        return value
    if isinstance(value, str):
        key = value.removeprefix("torch.")
        if key in SUPPORTED_DTYPES:
            return SUPPORTED_DTYPES[key]
    raise ValueError(f"unsupported dtype {value!r}; supported: None, {', '.join(SUPPORTED_DTYPES)}")


@dataclass(frozen=True)
class OptimizeConfig:
    """How :func:`optlib.optimize` transforms a model.

    ``backend`` picks the graph-mode runner: ``"auto"`` measures every available candidate on
    ``sample_input`` at optimize time and keeps the fastest whose outputs match eager (without
    a sample input it compiles lazily with inductor). ``tune_seconds`` bounds the time spent
    timing each candidate. ``tune_cache`` reuses the choice an earlier run made on this
    machine for the same model, shapes, dtype and threads (see ``optlib.passes.tune_cache``).
    ``retain_freed_memory`` (training only) makes glibc's malloc keep freed memory for the next
    step instead of page-faulting fresh memory in for every large tensor
    (``optlib.runtime.allocator``).
    """

    level: str = "O1"
    dtype: torch.dtype | None = None
    inplace: bool = False
    conv_bn_folding: bool | None = None
    linear_bn_folding: bool | None = None
    replace_dropout_with_identity: bool | None = None
    channels_last: bool | None = None
    weights_prepack: bool | None = None
    graph_mode: bool | None = None
    sparse_gnn: bool | None = None
    split_master_weight_for_bf16: bool | None = None
    fuse_update_step: bool | None = None
    retain_freed_memory: bool | None = None
    backend: str = "auto"
    tune_seconds: float = 1.0
    tune_cache: bool = True

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unsupported level {self.level!r}; supported: {', '.join(LEVELS)}")
        object.__setattr__(self, "dtype", parse_dtype(self.dtype))
        if self.backend not in BACKENDS:
            raise ValueError(f"unsupported backend {self.backend!r}; supported: {', '.join(BACKENDS)}")
        for name in _LEVEL_KNOBS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"{name} must be True, False or None, got {value!r}")
        for name in ("inplace", "tune_cache"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not isinstance(self.tune_seconds, (int, float)) or self.tune_seconds <= 0:
            raise ValueError(f"tune_seconds must be a positive number, got {self.tune_seconds!r}")

    def resolved(self) -> OptimizeConfig:
        """A copy where every knob left ``None`` holds its level's value."""
        default = self.level == "O1"
        updates = {name: default for name in _LEVEL_KNOBS if getattr(self, name) is None}
        return dataclasses.replace(self, **updates)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_dict`` of it gives back an equal config."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["dtype"] = dtype_name(self.dtype)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptimizeConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown OptimizeConfig fields {unknown}; known: {sorted(known)}")
        return cls(**data)
