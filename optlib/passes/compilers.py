"""Graph mode: hand the (already folded) model to a compiler that fuses and folds constants.

Two stock compilers, each good on different models, so optlib measures rather than guesses
(see :mod:`optlib.passes.autotune`):

* TorchScript freezing + ``optimize_for_inference``: traces once, inlines weights as
  constants, folds conv/BN/add chains and prepacks convolutions into oneDNN's layout. It has
  little per-call overhead, which wins on small CNN and MLP graphs.
* ``torch.compile`` with inductor, with and without ``freezing``: generates fused C++ kernels around
  oneDNN/MKL calls with prepacked weights; it wins where pointwise work dominates.

Each builder returns a plain callable or raises; the caller decides about fallback.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from optlib.passes.jit_rewrites import rewrite_triangle_gathers


@contextlib.contextmanager
def quiet_torchscript():
    """TorchScript announces its deprecation on every call; optlib uses it on purpose (it is
    still the fastest route for some models here) and says so once, in its docs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        yield


def as_args(sample_input: Any) -> tuple:
    """Normalize a sample input (a tensor, a tuple of positional args) to a tuple."""
    if isinstance(sample_input, tuple):
        return sample_input
    return (sample_input,)


def autocast_context(dtype: torch.dtype | None):
    if dtype == torch.bfloat16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_torchscript(module: nn.Module, sample_input: Any, dtype: torch.dtype | None = None) -> Callable:
    """Trace, freeze and ``optimize_for_inference``; needs a sample input to trace with."""
    if sample_input is None:
        raise ValueError("TorchScript needs sample_input to trace the model")
    with torch.no_grad(), autocast_context(dtype), quiet_torchscript():
        traced = torch.jit.trace(module, as_args(sample_input), check_trace=False, strict=False)
        frozen = torch.jit.freeze(traced.eval())
        if dtype is None or dtype == torch.float32:
            frozen = torch.jit.optimize_for_inference(frozen)
        rewrite_triangle_gathers(frozen)
        # Two runs let the profiling executor specialize before anything is timed.
        for _ in range(2):
            frozen(*as_args(sample_input))
    return frozen


def build_inductor(module: nn.Module, sample_input: Any = None, dtype: torch.dtype | None = None,
                   freezing: bool = True) -> Callable:
    """``torch.compile`` with inductor (and freezing unless told otherwise); compiles on the first call.

    Freezing folds weights into the graph and prepacks them, which usually wins; without it
    inductor keeps weights as inputs, which was measured faster on some sparse GNN graphs.
    """
    compiled = torch.compile(module, backend="inductor", options={"freezing": freezing})
    if sample_input is not None:
        with torch.no_grad(), autocast_context(dtype):
            compiled(*as_args(sample_input))
    return compiled


def build_torchscript_prepacked(module: nn.Module, sample_input: Any, dtype: torch.dtype | None = None) -> Callable:
    """Trace and freeze a module whose Linears ``weights_prepack`` packed for oneDNN.

    TorchScript's own ``optimize_for_inference`` runs Linears as a matmul, a bias add and a
    separate ReLU; this keeps the packed kernels with their fused ReLUs and still drops the
    Python between ops (DLRM at batch 128: 1.13 ms against 1.25 ms for the stock TorchScript
    route and 1.28 ms for the packed eager module). fp32 only.
    """
    from optlib.passes.prepack import PrepackedConv2d
    from optlib.passes.prepack_linear import PrepackedLinear, with_scripted_linears

    if dtype not in (None, torch.float32):
        raise ValueError(f"the prepacked TorchScript route is float32 only, not {dtype}")
    if sample_input is None:
        raise ValueError("TorchScript needs sample_input to trace the model")
    if not any(isinstance(m, PrepackedLinear) for m in module.modules()):
        raise ValueError("the module has no prepacked Linear")
    if any(isinstance(m, PrepackedConv2d) for m in module.modules()):
        raise ValueError("prepacked convolutions cannot be traced")
    args = as_args(sample_input)
    with torch.no_grad(), quiet_torchscript():
        traced = torch.jit.trace(with_scripted_linears(module).eval(), args, check_trace=False, strict=False)
        frozen = torch.jit.freeze(traced.eval())
        rewrite_triangle_gathers(frozen)
        for _ in range(2):
            frozen(*args)
    return frozen
