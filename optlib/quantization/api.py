"""The INT8 flow: prepare, calibrate, (save/load the recipe), convert, save, load.

    prepared = prepare(model, example_inputs)
    for batch in calibration_data: prepared(*batch)
    save_recipe(prepared, "int8.json")          # optional: inspect or edit it
    quantized = convert(prepared)
    save(quantized, "model.pt", example_inputs)  # deployable without calibration data
    model = load("model.pt")                     # in another process
"""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from optlib._log import logger
from optlib._module import OptimizedModule
from optlib.passes.dropout import replace_dropout_with_identity
from optlib.passes.fold_bn import fold_conv_bn, fold_linear_bn
from optlib.passes.compilers import as_args, quiet_torchscript
from optlib.quantization.config import QuantConfig, cpu_has_vnni
from optlib.quantization.modules import (
    ObservedModule,
    float_op,
    observed_qparams,
    to_quantized,
    weight_qparams,
)
from optlib.quantization.recipe import ModuleRecipe, Recipe, RecipeError

RECIPE_FILE = "optlib_int8_recipe.json"
_TRANSFORMER_MARKERS = (nn.LayerNorm, nn.MultiheadAttention)
# Their fast path reads the Linear weights directly, so those Linears must stay nn.Linear.
_FAST_PATH_LAYERS = (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)
_SKIP = "skip"


def _set_engine() -> None:
    if "x86" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "x86"


def _linear_mode(model: nn.Module, config: QuantConfig) -> str:
    if config.linear_mode != "auto":
        return config.linear_mode
    transformer = any(isinstance(m, _TRANSFORMER_MARKERS) for m in model.modules())
    return "dynamic" if transformer else "static"


def _targets(model: nn.Module, config: QuantConfig) -> list[tuple[nn.Module, str, str]]:
    """``(parent, child_name, op)`` for every submodule the config quantizes."""
    enabled = {"conv2d": config.quantize_conv, "linear": config.quantize_linear,
               "embedding_bag": config.quantize_embedding_bag}
    found = []
    for parent in model.modules():
        if isinstance(parent, _FAST_PATH_LAYERS + (nn.MultiheadAttention,)):
            continue
        for name, child in parent.named_children():
            op = float_op(child)
            if op is not None and enabled[op]:
                found.append((parent, name, op))
    return found


def prepare(model: nn.Module, example_inputs: Any, config: QuantConfig | None = None) -> nn.Module:
    """A copy of ``model`` (BN folded, dropout removed) with observers on every quantizable op.

    Run calibration data through the result; it computes the same outputs as ``model``.
    ``example_inputs`` (a tensor or a tuple of positional arguments) is kept for :func:`save`.
    """
    config = config or QuantConfig()
    if not isinstance(model, nn.Module):
        raise TypeError(f"prepare expects a torch.nn.Module, got {type(model).__name__}")
    prepared = copy.deepcopy(model).eval()
    prepared = fold_linear_bn(fold_conv_bn(replace_dropout_with_identity(prepared, inplace=True), inplace=True),
                              inplace=True)
    reduce_range = config.reduce_range if config.reduce_range is not None else not cpu_has_vnni()
    linear_mode = _linear_mode(prepared, config)
    # "auto" picked dynamic Linears: observe them anyway, so convert can measure static ones too.
    static_alternative = config.linear_mode == "auto" and linear_mode == "dynamic"
    modes = {"conv2d": "static", "linear": linear_mode, "embedding_bag": "weight_only"}
    targets = _targets(prepared, config)
    if not targets:
        raise ValueError("the model has no Conv2d, Linear (torch or PyTorch Geometric) or EmbeddingBag that the "
                         "config quantizes")
    for parent, name, op in targets:
        child = getattr(parent, name)
        observe = True if (static_alternative and op == "linear") else None
        setattr(parent, name, ObservedModule(child, op, modes[op], config.activation_observer, reduce_range, observe))
    object.__setattr__(prepared, "_optlib_quant", {
        "config": config, "reduce_range": reduce_range, "example_inputs": as_args(example_inputs),
    })
    logger.debug("quantization: prepared %d modules (linear mode %s)", len(targets), linear_mode)
    return prepared


def _state(prepared: nn.Module) -> dict[str, Any]:
    state = getattr(prepared, "_optlib_quant", None)
    if state is None:
        raise ValueError("expected a model returned by optlib.quantization.prepare")
    return state


def _observed(prepared: nn.Module) -> dict[str, ObservedModule]:
    return {name: m for name, m in prepared.named_modules() if isinstance(m, ObservedModule)}


def recipe_of(prepared: nn.Module, linear_mode: str | None = None) -> Recipe:
    """The recipe a prepared model stands for: loaded entries, else its calibration.

    ``linear_mode="static"`` gives the static alternative of Linears that were observed as
    dynamic (see :class:`QuantConfig`). A converted model's recipe is the one it was built with.
    """
    if isinstance(prepared, OptimizedModule):
        prepared = prepared.module
    state = _state(prepared)
    if "recipe" in state:
        return state["recipe"]
    modules: dict[str, ModuleRecipe] = {}
    for name, observed in _observed(prepared).items():
        if observed.loaded_recipe == _SKIP:
            continue
        if observed.loaded_recipe is not None:
            modules[name] = observed.loaded_recipe
            continue
        weight = weight_qparams(observed.module.weight, observed.op, state["config"].weight_scheme)
        mode = observed.mode
        if linear_mode == "static" and observed.op == "linear" and observed.observes_activations:
            mode = "static"
        if mode == "static":
            if observed.calibrated_batches == 0:
                raise ValueError(f"module {name!r} saw no calibration data; run calibration batches through the "
                                 "prepared model, or load a recipe, before convert or save_recipe")
            modules[name] = ModuleRecipe(observed.op, "static", weight,
                                         observed_qparams(observed.input_observer),
                                         observed_qparams(observed.output_observer))
        else:
            modules[name] = ModuleRecipe(observed.op, observed.mode, weight)
    return Recipe(modules, "x86", state["reduce_range"], state["config"].to_dict())


def save_recipe(prepared: nn.Module, path: str | Path) -> Recipe:
    recipe = recipe_of(prepared)
    recipe.save(path)
    return recipe


def load_recipe(prepared: nn.Module, path_or_recipe: str | Path | Recipe) -> nn.Module:
    """Make ``convert`` follow a recipe; modules the recipe omits stay in floating point."""
    recipe = path_or_recipe if isinstance(path_or_recipe, Recipe) else Recipe.load(path_or_recipe)
    observed = _observed(prepared)
    unknown = sorted(set(recipe.modules) - set(observed))
    if unknown:
        raise RecipeError(f"recipe names modules the prepared model does not have: {unknown}; "
                          f"quantizable modules: {sorted(observed)}")
    for name, module in observed.items():
        entry = recipe.modules.get(name)
        if entry is not None and entry.op != module.op:
            raise RecipeError(f"recipe says {name!r} is {entry.op}, the model has {module.op}")
        module.loaded_recipe = entry if entry is not None else _SKIP
    _state(prepared)["reduce_range"] = recipe.reduce_range
    return prepared


def _build(prepared: nn.Module, recipe: Recipe) -> nn.Module:
    quantized = copy.deepcopy(prepared)
    for name, observed in list(_observed(quantized).items()):
        entry = recipe.modules.get(name)
        replacement = observed.module if entry is None else to_quantized(observed.module, entry)
        parent_name, _, leaf = name.rpartition(".")
        setattr(quantized.get_submodule(parent_name) if parent_name else quantized, leaf, replacement)
    object.__setattr__(quantized, "_optlib_quant", {**_state(prepared), "recipe": recipe})
    return quantized


@contextlib.contextmanager
def _observers_paused(prepared: nn.Module):
    observed = list(_observed(prepared).values())
    for module in observed:
        module.observing = False
    try:
        yield
    finally:
        for module in observed:
            module.observing = True


def convert(prepared: nn.Module, optimize: bool = True, tune_seconds: float = 1.0,
            tune_cache: bool = True) -> nn.Module:
    """The INT8 model: every module in the recipe replaced by its quantized kernel.

    With ``optimize`` (the default) the result is an :class:`optlib.OptimizedModule` that runs
    the quantized model on the fastest accurate runtime measured on ``prepare``'s example
    inputs (its ``.module`` is the plain quantized model); otherwise the plain model.
    ``tune_cache`` reuses the runtime an earlier run chose for the same quantized model here.
    """
    from optlib.gnn import has_sparse_layers
    from optlib.quantization.routing import Variant, route, without_embedding_quantization

    recipe = recipe_of(prepared)
    _set_engine()
    quantized = _build(prepared, recipe)
    if not optimize:
        return quantized
    args = _state(prepared)["example_inputs"]
    with _observers_paused(prepared), torch.no_grad():
        reference = prepared(*args)

    def build(r: Recipe) -> nn.Module:
        return _build(prepared, r)

    variants = [Variant("eager", quantized, "eager"), Variant("torchscript", quantized, "torchscript"),
                Variant("openvino", quantized, "openvino", without_embedding_quantization(recipe, build))]
    static = recipe_of(prepared, linear_mode="static")
    if static != recipe:
        static_model = build(static)
        variants.append(Variant("openvino-static-linear", static_model, "openvino",
                                without_embedding_quantization(static, build)))
    if has_sparse_layers(quantized):
        variants.append(Variant("csr", quantized, "csr"))
    return route(variants, args, reference, tune_seconds, tune_cache=tune_cache)


def save(quantized: nn.Module, path: str | Path, example_inputs: Any = None) -> None:
    """Save a converted model as a frozen TorchScript archive with its recipe inside.

    The archive needs neither the model's Python code nor calibration data to load.
    """
    if isinstance(quantized, OptimizedModule):
        quantized = quantized.module
    state = getattr(quantized, "_optlib_quant", {})
    args = as_args(example_inputs) if example_inputs is not None else state.get("example_inputs")
    if args is None:
        raise ValueError("save needs example_inputs to trace the model")
    with torch.no_grad(), quiet_torchscript():
        traced = torch.jit.trace(quantized.eval(), args, check_trace=False)
        frozen = torch.jit.freeze(traced)
    extra = {RECIPE_FILE: json.dumps(state["recipe"].to_dict()) if "recipe" in state else "{}"}
    torch.jit.save(frozen, str(path), _extra_files=extra)


def load(path: str | Path) -> torch.jit.ScriptModule:
    """Load a model written by :func:`save` (any process; the recipe is in ``.optlib_recipe``)."""
    _set_engine()
    extra = {RECIPE_FILE: ""}
    module = torch.jit.load(str(path), _extra_files=extra)
    recipe_text = extra[RECIPE_FILE]
    module.optlib_recipe = json.loads(recipe_text) if recipe_text else {}
    return module


def quantize_dynamic(model: nn.Module, dtype: torch.dtype = torch.qint8, inplace: bool = False) -> nn.Module:
    """Dynamic INT8 for Linear (per-channel weights) and LSTM: no calibration needed.

    Activations are quantized per call from their observed range, which suits models whose
    activation ranges vary per input (transformers, RNNs).
    """
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig
    from torch.ao.quantization import quantize_dynamic as stock_quantize_dynamic

    if dtype != torch.qint8:
        raise ValueError(f"unsupported dtype {dtype}; supported: torch.qint8")
    _set_engine()
    mapping = {nn.Linear: per_channel_dynamic_qconfig, nn.LSTM: default_dynamic_qconfig}
    model = model if inplace else copy.deepcopy(model)
    return stock_quantize_dynamic(model.eval(), mapping, dtype=dtype, inplace=True)
