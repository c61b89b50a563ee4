"""Run a converted INT8 model on whichever runtime is fastest here, measured.

The quantized modules run as eager PyTorch calls (a quantize, an int8 kernel, a dequantize
per op). Two other runtimes execute the same quantized graph with fewer passes over memory:
TorchScript freezing (one graph, no Python between ops), and OpenVINO, whose PyTorch
frontend turns the quantize/dequantize pairs into fused int8 convolutions and matmuls and
whose task-stealing scheduler degrades gracefully when other processes share the cores.
For PyTorch Geometric models a fourth candidate runs the quantized model with its GCNConv /
SAGEConv aggregations as CSR sparse matmuls (``optlib.gnn``): the int8 Linears alone leave
the gather/scatter of every edge, which dominates a GNN, as slow as in fp32.
OpenVINO imports neither quantized embedding tables nor dynamic Linears, so its candidate
keeps the tables in fp32 (lookups, not compute) and, for transformers, is offered the static
variant of the Linears. A candidate is accepted only if its quantization noise against the
fp32 model is within 1 dB of the best eager INT8 variant's (and SQNR >= 20 dB).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from optlib._log import logger, warn_once
from optlib._module import OptimizedModule, input_signature
from optlib.passes import backends
from optlib.passes import tune_cache as cache
from optlib.passes.autotune import add_thread_variants, noise_ratio, select_fastest_cached, split_threads
from optlib.passes.compilers import quiet_torchscript
from optlib.passes.jit_rewrites import rewrite_triangle_gathers

_SQNR_SLACK_DB = 1.0
_MIN_SQNR_DB = 20.0
RUNTIMES = ("eager", "torchscript", "openvino", "csr")


@dataclass(frozen=True)
class Variant:
    """A candidate: the quantized model it stands for, and the runtime that executes it.

    ``runtime_model`` is what the runtime imports when it differs from ``model`` (fp32
    embedding tables for OpenVINO); ``model`` is what ``state_dict`` and ``save`` use.
    """

    name: str
    model: nn.Module
    runtime: str
    runtime_model: nn.Module | None = None

    def build(self, args: tuple) -> Callable:
        target = self.runtime_model if self.runtime_model is not None else self.model
        if self.runtime == "eager":
            return target
        if self.runtime == "csr":
            from optlib.gnn import to_sparse_gnn

            return to_sparse_gnn(target)
        with torch.no_grad(), quiet_torchscript():
            traced = torch.jit.trace(target, args, check_trace=False)
            if self.runtime == "openvino":
                return backends.build_openvino(traced, args)
            frozen = torch.jit.freeze(traced)
            rewrite_triangle_gathers(frozen)
            for _ in range(2):
                frozen(*args)
        return frozen


def _no_grad(build: Callable[[], Callable]) -> Callable[[], Callable]:
    def wrapped() -> Callable:
        runner = build()

        def run(*a):
            with torch.no_grad():
                return runner(*a)
        return run
    return wrapped


def route(variants: list[Variant], args: tuple, reference, seconds: float, tune_cache: bool = True) -> nn.Module:
    """An :class:`OptimizedModule` holding the fastest accurate variant's model and runner."""
    if any(v.runtime not in RUNTIMES for v in variants):
        raise ValueError(f"unsupported runtime; supported: {', '.join(RUNTIMES)}")
    available = [v for v in variants if v.runtime != "openvino" or backends.available("openvino")]
    with torch.no_grad():
        eager_noise = min(noise_ratio(v.model(*args), reference) for v in available if v.runtime == "eager")
    floor = 10 ** (-_MIN_SQNR_DB / 10)
    allowed = min(eager_noise * 10 ** (_SQNR_SLACK_DB / 10), floor) if math.isfinite(eager_noise) else floor
    allowed = max(allowed, eager_noise)
    by_name = {v.name: v for v in available}
    builders = {v.name: _no_grad(lambda v=v: v.build(args)) for v in available}
    openmp = {v.name for v in available if v.runtime != "openvino"}
    # OpenVINO brings its own pool; the thread-count variants added next are all OpenMP.
    own_pools = frozenset(v.name for v in available if v.runtime == "openvino")
    builders = add_thread_variants(builders, openmp, torch.get_num_threads())
    key = cache.tune_key("int8", variants[0].model, args, None, builders) if cache.enabled(tune_cache) else None
    try:
        chosen, runner, report = select_fastest_cached(key, builders, args, reference, allowed, seconds,
                                                       error_fn=noise_ratio, own_pools=own_pools)
    except RuntimeError as exc:
        warn_once("int8-routing", f"optlib: INT8 runtime selection failed, the eager INT8 model runs: {exc}")
        return OptimizedModule(variants[0].model)
    logger.info("optlib int8: %s", report.summary())
    chosen, threads = split_threads(chosen)
    variant = by_name[chosen]
    if variant.runtime == "eager":
        return OptimizedModule(variant.model, tune_report=report, num_threads=threads)
    # The CSR layers take any graph (and fall back to PyG's for what they do not handle);
    # the traced runtimes are built for the example's shapes.
    signature = None if variant.runtime == "csr" else input_signature(args, {})
    return OptimizedModule(variant.model, backend=chosen, builder=lambda: variant.build(args), runner=runner,
                           signature=signature, tune_report=report, num_threads=threads)


def without_embedding_quantization(recipe, build: Callable) -> nn.Module | None:
    """The model built from ``recipe`` minus its embedding tables, or None if it has none."""
    kept = {name: entry for name, entry in recipe.modules.items() if entry.op != "embedding_bag"}
    if len(kept) == len(recipe.modules):
        return None
    return build(dataclasses.replace(recipe, modules=kept))
