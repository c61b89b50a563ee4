"""``optlib.optimize``: one call that makes a model faster on this CPU.

Inference (an eval-mode model, no optimizer): the enabled passes run in a fixed order, each
guarded so that a pass which raises, or whose result differs from the model before it on the
sample input, is undone with one warning naming the pass and the reason. Then graph mode
picks a runner, by measurement when a sample input is given. The result is an
:class:`optlib.OptimizedModule`.

Training (a train-mode model and its optimizer): only training-safe passes run, then
``optlib.training.prepare_training`` fuses the optimizer step and sets up bf16 weights.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from optlib._log import logger, warn_once
from optlib._module import OptimizedModule, input_signature
from optlib.config import OptimizeConfig
from optlib.nn import MergedEmbeddingBag
from optlib.passes import backends as runtime_backends
from optlib.passes import tune_cache
from optlib.passes.autotune import (SkipCandidate, add_thread_variants, once, relative_error, select_fastest_cached,
                                    split_threads)
from optlib.passes.dropout import replace_dropout_with_identity
from optlib.passes.fold_bn import fold_conv_bn, fold_linear_bn
from optlib.passes.compilers import (as_args, autocast_context, build_inductor, build_torchscript,
                                     build_torchscript_prepacked)
from optlib.passes.layout import has_2d_convolution, input_to_channels_last, to_channels_last
from optlib.passes.prepack import PrepackedConv2d, prepack_weights
from optlib.passes.prepack_linear import has_packable_linear

# Accuracy a pass or runner must keep against the model before it: fp32 transformations
# only reassociate floating-point sums; bf16 runners round differently from eager autocast.
FP32_TOLERANCE = 1e-4
BF16_TOLERANCE = 5e-2

_SHAPE_SPECIALIZED = ("torchscript", "torchscript-prepacked", "onnxruntime", "openvino")
_EXPORTED = ("onnxruntime", "openvino")
# Runners whose parallelism is torch's OpenMP pool (the others bring their own thread pools).
_OPENMP = {"eager", "torchscript", "torchscript-prepacked", "inductor", "inductor-default"}
# Runners built from the module after weights_prepack rather than before it.
_FROM_PREPACKED = ("torchscript-prepacked",)
_BUILDERS = {
    "torchscript": build_torchscript,
    "torchscript-prepacked": build_torchscript_prepacked,
    "inductor": build_inductor,
    "inductor-default": lambda module, args, dtype: build_inductor(module, args, dtype, freezing=False),
    "onnxruntime": runtime_backends.build_onnxruntime,
    "openvino": runtime_backends.build_openvino,
}


def optimize(
    model: nn.Module,
    dtype: torch.dtype | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    level: str = "O1",
    inplace: bool = False,
    conv_bn_folding: bool | None = None,
    linear_bn_folding: bool | None = None,
    replace_dropout_with_identity: bool | None = None,
    channels_last: bool | None = None,
    weights_prepack: bool | None = None,
    graph_mode: bool | None = None,
    sample_input: Any = None,
    *,
    config: OptimizeConfig | None = None,
    **more_knobs: Any,
):
    """Optimize ``model`` for this CPU; see :class:`optlib.OptimizeConfig` for every knob.

    ``config`` gives the whole configuration as one value; explicit arguments that are not
    ``None`` (and ``level``/``inplace``/``dtype`` when they differ from their defaults)
    override it. ``more_knobs`` accepts the remaining config fields (``sparse_gnn``,
    ``backend``, ``split_master_weight_for_bf16``, ``fuse_update_step``, ``retain_freed_memory``,
    ``tune_seconds``).
    Returns the optimized model, or ``(model, optimizer)`` when an optimizer is given.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"optimize expects a torch.nn.Module, got {type(model).__name__}")
    cfg = _merge_config(
        config,
        dict(
            dtype=dtype, level=level, inplace=inplace, conv_bn_folding=conv_bn_folding,
            linear_bn_folding=linear_bn_folding, replace_dropout_with_identity=replace_dropout_with_identity,
            channels_last=channels_last, weights_prepack=weights_prepack, graph_mode=graph_mode, **more_knobs,
        ),
    ).resolved()
    if optimizer is not None and not model.training:
        raise ValueError("an optimizer was given but the model is in eval mode; call model.train() for training, "
                         "or pass no optimizer for inference")
    if optimizer is None and model.training:
        raise ValueError("the model is in training mode but no optimizer was given; call model.eval() for inference, "
                         "or pass the optimizer for training")
    if cfg.dtype == torch.bfloat16:
        _state_bf16_support()
    if optimizer is not None:
        return _optimize_training(model, optimizer, cfg)
    return _optimize_inference(model, cfg, sample_input)


def _merge_config(config: OptimizeConfig | None, given: dict[str, Any]) -> OptimizeConfig:
    defaults = {"level": "O1", "inplace": False}
    known = {f.name for f in dataclasses.fields(OptimizeConfig)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise TypeError(f"unknown optimize() arguments {unknown}; known: {sorted(known)}")
    if config is None:
        return OptimizeConfig(**{k: v for k, v in given.items() if v is not None})
    overrides = {k: v for k, v in given.items() if v is not None and (k not in defaults or v != defaults[k])}
    return dataclasses.replace(config, **overrides)


_stated: set[str] = set()


def _state_bf16_support() -> None:
    """Say once per process whether bf16 is native here; only its absence is a warning."""
    try:
        from optlib.cpu import cpu_info

        info = cpu_info()
        native, name = info.has_native_bf16, info.model_name
    except Exception as exc:  # a CPU probe must never stop optimization
        logger.debug("bf16: could not read the CPU's facts: %s", exc)
        return
    if native:
        if "bf16" not in _stated:
            _stated.add("bf16")
            logger.info("optlib: bf16 runs natively on this CPU (%s: avx512_bf16 or AMX)", name)
    else:
        warn_once("bf16", f"optlib: this CPU ({name}) has no native bf16 (avx512_bf16 or AMX); "
                          "bf16 will be emulated and slower than float32")


def _optimize_training(model: nn.Module, optimizer: torch.optim.Optimizer, cfg: OptimizeConfig):
    if cfg.level == "O0" and cfg.dtype is None:
        return model, optimizer
    if not cfg.inplace:
        # One deepcopy of both keeps the optimizer pointing at the copied parameters.
        model, optimizer = copy.deepcopy((model, optimizer))
    if cfg.channels_last and has_2d_convolution(model):
        model = _guarded("channels_last", lambda m: to_channels_last(m, inplace=True), model, None, None)
    try:
        from optlib.training import prepare_training
    except ImportError as exc:
        warn_once("training", f"optlib: training optimizations unavailable ({exc}); model and optimizer returned as is")
        return model, optimizer
    if cfg.retain_freed_memory:
        from optlib.runtime.allocator import retain_freed_memory

        retain_freed_memory()
    split = bool(cfg.split_master_weight_for_bf16) and cfg.dtype == torch.bfloat16
    try:
        return prepare_training(model, optimizer, dtype=cfg.dtype, split_master_weight=split,
                                fused=bool(cfg.fuse_update_step))
    except Exception as exc:
        warn_once("training", f"optlib: pass prepare_training failed and was skipped: {type(exc).__name__}: {exc}")
        return model, optimizer


def _guarded(name: str, apply: Callable[[nn.Module], nn.Module], model: nn.Module, args: tuple | None,
             tolerance: float | None) -> nn.Module:
    """Run one pass; on an exception or a changed output, warn once and keep ``model``."""
    try:
        result = apply(model)
        if args is not None and tolerance is not None and result is not model:
            with torch.no_grad():
                error = relative_error(result(*args), model(*args))
            if not error <= tolerance:
                raise RuntimeError(f"output differs from the model before the pass (relative error {error:.3g})")
        return result
    except Exception as exc:
        warn_once(f"pass:{name}", f"optlib: pass {name} failed and was skipped: {type(exc).__name__}: {exc}")
        return model


def _optimize_inference(model: nn.Module, cfg: OptimizeConfig, sample_input: Any) -> nn.Module:
    knobs = (cfg.conv_bn_folding, cfg.linear_bn_folding, cfg.replace_dropout_with_identity, cfg.channels_last,
             cfg.weights_prepack, cfg.graph_mode, cfg.sparse_gnn)
    if not any(knobs) and cfg.dtype is None:
        return model
    working = model if cfg.inplace else copy.deepcopy(model)
    args = as_args(sample_input) if sample_input is not None else None
    fp32 = cfg.dtype is None or cfg.dtype == torch.float32
    check = FP32_TOLERANCE if fp32 else None  # passes are exact in fp32; bf16 checks happen per runner
    from optlib.passes import sparse_gnn

    steps = [
        ("replace_dropout_with_identity", cfg.replace_dropout_with_identity, replace_dropout_with_identity),
        ("conv_bn_folding", cfg.conv_bn_folding, fold_conv_bn),
        ("linear_bn_folding", cfg.linear_bn_folding, fold_linear_bn),
        ("sparse_gnn", cfg.sparse_gnn, sparse_gnn),
    ]
    # With inplace=True the passes change the caller's modules instead of copying them (no
    # second copy of the weights), at the price that a pass failing midway cannot be undone.
    inplace = cfg.inplace
    for name, enabled, apply in steps:
        if enabled:
            working = _guarded(name, lambda m, apply=apply: apply(m, inplace=inplace), working, args, check)
    use_channels_last = bool(cfg.channels_last) and has_2d_convolution(working)
    if use_channels_last:
        working = _guarded("channels_last", lambda m: to_channels_last(m, inplace=inplace), working, None, None)
        args = input_to_channels_last(args) if args is not None else None
    eager = working
    if cfg.weights_prepack and fp32:
        # Never in place: graph-mode candidates start from the unpacked module.
        # Given the sample input, the Linears are packed only where that measured faster.
        eager = _guarded("weights_prepack", lambda m: prepack_weights(m, sample_args=args), working, args, check)
    wrap = dict(dtype=cfg.dtype, channels_last=use_channels_last)
    if not cfg.graph_mode or cfg.backend == "eager":
        return OptimizedModule(eager, **wrap)
    if args is None:
        if cfg.backend not in ("auto", "inductor", "inductor-default"):
            warn_once(f"graph_mode:{cfg.backend}", f"optlib: pass graph_mode ({cfg.backend}) needs sample_input to "
                                                   "export the model; the eager module runs instead")
            return OptimizedModule(eager, **wrap)
        # Without a sample input nothing can be measured; inductor compiles on the first call.
        freezing = cfg.backend != "inductor-default"
        return OptimizedModule(working, backend="inductor" if freezing else cfg.backend,
                               builder=lambda: build_inductor(working, None, cfg.dtype, freezing), **wrap)
    return _select_runner(model, working, eager, cfg, args, wrap)


# ONNX has no EmbeddingBag: the export loops over the bags one by one, and the exported
# runtimes lost by two orders of magnitude (DLRM eval, ONNX Runtime 190-231 ms against 1.4-2.2
# ms for the prepacked TorchScript route), after 5-6 s of export and session build.
_EMBEDDING_BAG_EXPORT = "the model has EmbeddingBag tables, which ONNX runs as a loop over the bags"


def _has_embedding_bag(module: nn.Module) -> bool:
    return any(isinstance(m, (nn.EmbeddingBag, MergedEmbeddingBag)) for m in module.modules())


def _skip(reason: str) -> Callable[[], Callable]:
    def build() -> Callable:
        raise SkipCandidate(reason)
    return build


def _may_trace_prepacked(graph_input: nn.Module, eager: nn.Module) -> bool:
    """Whether the prepacked TorchScript route enters the race: ``weights_prepack`` ran on a
    model with Linears it may pack, and packed no convolution (which that route cannot trace).

    Which Linears it packed follows a timing (``prepack_linear``), so this must not: the
    candidates go into the tuning cache's key, and a key that followed the timing made a new
    key, and a whole new race, each time a borderline layer flipped (BERT-base raced again
    in the second of five runs of the benchmark suite: its pair took 107 s against 61).
    Where no Linear was packed after all, the route fails to build and drops out of the race.
    """
    return (eager is not graph_input and has_packable_linear(graph_input)
            and not any(isinstance(m, PrepackedConv2d) for m in eager.modules()))


def _select_runner(original: nn.Module, graph_input: nn.Module, eager: nn.Module, cfg: OptimizeConfig,
                   args: tuple, wrap: dict) -> OptimizedModule:
    fp32 = cfg.dtype is None or cfg.dtype == torch.float32
    with torch.no_grad(), autocast_context(cfg.dtype):
        reference = original(*args)
    names = [cfg.backend] if cfg.backend != "auto" else ["torchscript", "inductor", "inductor-default"]
    if cfg.backend == "auto" and fp32 and _may_trace_prepacked(graph_input, eager):
        names.insert(1, "torchscript-prepacked")
    if cfg.backend == "auto" and fp32:
        # OpenVINO first: listed order breaks ties, and where the two runtimes tie in the race
        # OpenVINO is the faster on free cores (resnet50, 2 threads: 24.4 ms against 25.5 for
        # ONNX Runtime, whose pool optlib keeps from spinning) and they stay level with a
        # core busy (43.0 and 41.7 ms).
        names += [n for n in ("openvino", "onnxruntime") if runtime_backends.available(n)]

    # Exported runtimes take inputs in the default memory layout whatever the module's: they
    # get the sample that way, and the caller's tensors unconverted (a layout conversion per
    # call wakes torch's thread pool, which then competes with the runtime's own: 9 % of
    # resnet50's latency on 2 cores).
    dense_args = tuple(a.contiguous() if isinstance(a, torch.Tensor) else a for a in args)

    def bound(name: str, export: Callable[[], bytes] | None = None) -> Callable[[], Callable]:
        sample = dense_args if name in _EXPORTED else args

        def build() -> Callable:
            with torch.no_grad(), autocast_context(cfg.dtype):
                if name in _EXPORTED and fp32:
                    # In the race the runtimes share one export; a rebuild (after
                    # load_state_dict) exports the module's new weights.
                    fresh = export or functools.partial(runtime_backends.export_onnx, held(name), sample)
                    return _BUILDERS[name](held(name), sample, cfg.dtype, exported=fresh)
                return _BUILDERS[name](held(name), sample, cfg.dtype)
        return build

    def held(name: str) -> nn.Module:
        return eager if name in _FROM_PREPACKED else graph_input

    def runs_with_context(build: Callable[[], Callable]) -> Callable[[], Callable]:
        def wrapped_build() -> Callable:
            runner = build()

            def run(*a):
                with torch.no_grad(), autocast_context(cfg.dtype):
                    return runner(*a)
            return run
        return wrapped_build

    # An explicitly requested backend is used whenever it works and is accurate; only
    # "auto" puts the eager module in the race.
    builders = {"eager": lambda: eager} if cfg.backend == "auto" else {}
    shared_export = once(functools.partial(runtime_backends.export_onnx, graph_input, dense_args))
    skip_exported = cfg.backend == "auto" and _has_embedding_bag(graph_input)
    for name in names:
        exported_skipped = skip_exported and name in _EXPORTED
        builders[name] = _skip(_EMBEDDING_BAG_EXPORT) if exported_skipped else bound(name, shared_export)
    builders = {n: runs_with_context(b) for n, b in builders.items()}
    if cfg.backend == "auto":
        builders = add_thread_variants(builders, _OPENMP & set(builders), torch.get_num_threads())
    tolerance = FP32_TOLERANCE if fp32 else BF16_TOLERANCE
    key = tune_cache.tune_key(f"graph_mode:{cfg.channels_last}:{cfg.weights_prepack}", graph_input, args,
                              cfg.dtype, builders) if tune_cache.enabled(cfg.tune_cache) and len(builders) > 1 else None
    try:
        chosen, runner, report = select_fastest_cached(key, builders, args, reference, tolerance, cfg.tune_seconds,
                                                       args_for={n: dense_args for n in builders if n in _EXPORTED},
                                                       own_pools=frozenset(_EXPORTED))
    except RuntimeError as exc:
        warn_once(f"graph_mode:{cfg.backend}", f"optlib: pass graph_mode ({cfg.backend}) failed and was skipped, "
                                               f"the eager module runs instead: {exc}")
        return OptimizedModule(eager, **wrap)
    logger.info("optlib graph_mode: %s", report.summary())
    chosen, threads = split_threads(chosen)
    wrap["num_threads"] = threads
    if chosen == "eager":
        return OptimizedModule(eager, tune_report=report, **wrap)
    if chosen in _EXPORTED:
        wrap["channels_last"] = False
    signature = input_signature(args, {}) if chosen in _SHAPE_SPECIALIZED else None
    # The runner is rebuilt from the held module after load_state_dict, so the held module
    # must be the one it was built from (compilers prepack weights themselves).
    return OptimizedModule(held(chosen), backend=chosen, builder=bound(chosen), runner=runner,
                           signature=signature, tune_report=report, **wrap)


