"""The modules of the INT8 flow: observed (calibration) and quantized (deployment) wrappers.

Quantization is applied per module rather than on a traced graph, so that any model whose
Conv2d / Linear / EmbeddingBag are submodules can be quantized, including models that FX or
``torch.export`` cannot trace (data-dependent Python, as in most DLRM implementations).
A static module quantizes its input with the calibrated scale, runs the int8 kernel
(oneDNN or FBGEMM through the ``x86`` engine) with a requantized output, and dequantizes.
"""

from __future__ import annotations

import torch
import torch.ao.nn.quantized as nnq
import torch.ao.nn.quantized.dynamic as nnqd
from torch import nn
from torch.ao.quantization.observer import (
    HistogramObserver,
    MinMaxObserver,
    PerChannelMinMaxObserver,
)

from optlib.quantization.recipe import ModuleRecipe, QParams

FLOAT_TYPES: dict[type, str] = {nn.Conv2d: "conv2d", nn.Linear: "linear", nn.EmbeddingBag: "embedding_bag"}


def _is_pyg_linear(module: nn.Module) -> bool:
    """PyTorch Geometric's own ``Linear`` (inside GCNConv, SAGEConv, GINConv's MLPs...): the
    same ``F.linear`` as ``nn.Linear`` once its weight is materialized (it may be lazy)."""
    cls = type(module)
    if cls.__name__ != "Linear" or not cls.__module__.startswith("torch_geometric."):
        return False
    weight = getattr(module, "weight", None)
    return (isinstance(weight, torch.Tensor) and not isinstance(weight, nn.parameter.UninitializedParameter)
            and weight.dim() == 2)


def float_op(module: nn.Module) -> str | None:
    """The op name of a module the INT8 flow can quantize, or ``None``."""
    op = FLOAT_TYPES.get(type(module))
    if op is None and _is_pyg_linear(module):
        return "linear"
    return op


def activation_observer(kind: str, reduce_range: bool) -> nn.Module:
    cls = HistogramObserver if kind == "histogram" else MinMaxObserver
    return cls(dtype=torch.quint8, qscheme=torch.per_tensor_affine, reduce_range=reduce_range)


class ObservedModule(nn.Module):
    """A float module that records its input and output ranges while calibration data runs."""

    def __init__(self, module: nn.Module, op: str, mode: str, observer: str, reduce_range: bool,
                 observe_activations: bool | None = None) -> None:
        super().__init__()
        self.module = module
        self.op = op
        self.mode = mode
        self.calibrated_batches = 0
        self.observing = True
        self.loaded_recipe: ModuleRecipe | None = None
        # A dynamic Linear may still record activation ranges, so that convert can also try
        # it as a static Linear and keep whichever runs faster.
        self.observes_activations = mode == "static" if observe_activations is None else observe_activations
        if self.observes_activations:
            self.input_observer = activation_observer(observer, reduce_range)
            self.output_observer = activation_observer(observer, reduce_range)

    def forward(self, *args, **kwargs):
        if not self.observing:
            return self.module(*args, **kwargs)
        if self.observes_activations:
            self.input_observer(args[0].detach())
        out = self.module(*args, **kwargs)
        if self.observes_activations:
            self.output_observer(out.detach())
        self.calibrated_batches += 1
        return out

    def extra_repr(self) -> str:
        return f"op={self.op}, mode={self.mode}, calibrated_batches={self.calibrated_batches}"


def observed_qparams(observer: nn.Module) -> QParams:
    scale, zero_point = observer.calculate_qparams()
    return QParams("quint8", "per_tensor_affine", (float(scale.reshape(-1)[0]),), (float(zero_point.reshape(-1)[0]),))


def weight_qparams(weight: torch.Tensor, op: str, scheme: str) -> QParams:
    """Weight qparams: rowwise float qparams for embedding tables (data-derived at convert)."""
    if op == "embedding_bag":
        return QParams("quint8", "per_channel_affine_float_qparams", None, None, axis=0)
    if scheme == "per_channel_symmetric":
        observer = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    else:
        observer = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    observer(weight.detach())
    scale, zero_point = observer.calculate_qparams()
    axis = 0 if scheme == "per_channel_symmetric" else None
    return QParams("qint8", scheme, tuple(scale.reshape(-1).tolist()), tuple(float(z) for z in zero_point.reshape(-1)), axis)


def quantize_weight(weight: torch.Tensor, qparams: QParams) -> torch.Tensor:
    weight = weight.detach().float()
    dtype = torch.qint8 if qparams.dtype == "qint8" else torch.quint8
    if qparams.scale is None:
        observer = PerChannelMinMaxObserver(ch_axis=0, dtype=dtype, qscheme=torch.per_channel_affine_float_qparams)
        observer(weight)
        scale, zero_point = observer.calculate_qparams()
        return torch.quantize_per_channel(weight, scale, zero_point, 0, dtype)
    if qparams.qscheme.startswith("per_tensor"):
        return torch.quantize_per_tensor(weight, qparams.scale[0], int(qparams.zero_point[0]), dtype)
    channels = weight.size(qparams.axis or 0)
    if len(qparams.scale) != channels:
        raise ValueError(f"weight has {channels} channels but the recipe gives {len(qparams.scale)} scales")
    scale = torch.tensor(qparams.scale, dtype=torch.double)
    zero_point = torch.tensor([int(z) for z in qparams.zero_point], dtype=torch.long)
    return torch.quantize_per_channel(weight, scale, zero_point, qparams.axis or 0, dtype)


class QuantizedStatic(nn.Module):
    """int8 conv or linear between a quantize of the input and a dequantize of the output."""

    def __init__(self, qmodule: nn.Module, input_scale: float, input_zero_point: int) -> None:
        super().__init__()
        self.qmodule = qmodule
        self.input_scale = float(input_scale)
        self.input_zero_point = int(input_zero_point)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.quantize_per_tensor(x.float(), self.input_scale, self.input_zero_point, torch.quint8)
        return self.qmodule(q).dequantize()

    def extra_repr(self) -> str:
        return f"input_scale={self.input_scale:.6g}, input_zero_point={self.input_zero_point}"


def _static_conv(conv: nn.Conv2d, recipe: ModuleRecipe) -> nn.Module:
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise ValueError("quantized conv needs explicit zero padding")
    q = nnq.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                   conv.dilation, conv.groups, conv.bias is not None)
    q.set_weight_bias(quantize_weight(conv.weight, recipe.weight), None if conv.bias is None else conv.bias.detach().float())
    q.scale, q.zero_point = recipe.output.scale[0], int(recipe.output.zero_point[0])
    return QuantizedStatic(q, recipe.input.scale[0], recipe.input.zero_point[0])


def _static_linear(linear: nn.Module, recipe: ModuleRecipe) -> nn.Module:
    out_features, in_features = linear.weight.shape
    q = nnq.Linear(in_features, out_features, linear.bias is not None)
    q.set_weight_bias(quantize_weight(linear.weight, recipe.weight), None if linear.bias is None else linear.bias.detach().float())
    q.scale, q.zero_point = recipe.output.scale[0], int(recipe.output.zero_point[0])
    return QuantizedStatic(q, recipe.input.scale[0], recipe.input.zero_point[0])


def _dynamic_linear(linear: nn.Module, recipe: ModuleRecipe) -> nn.Module:
    out_features, in_features = linear.weight.shape
    q = nnqd.Linear(in_features, out_features, linear.bias is not None, dtype=torch.qint8)
    q.set_weight_bias(quantize_weight(linear.weight, recipe.weight), None if linear.bias is None else linear.bias.detach().float())
    return q


def _embedding_bag(bag: nn.EmbeddingBag, recipe: ModuleRecipe) -> nn.Module:
    if bag.mode not in ("sum", "mean") or bag.padding_idx is not None or bag.max_norm is not None:
        raise ValueError("quantized EmbeddingBag supports mode sum or mean without padding_idx or max_norm")
    q = nnq.EmbeddingBag(bag.num_embeddings, bag.embedding_dim, mode=bag.mode,
                         include_last_offset=bag.include_last_offset, dtype=torch.quint8)
    q.set_weight(quantize_weight(bag.weight, recipe.weight))
    return q


def to_quantized(module: nn.Module, recipe: ModuleRecipe) -> nn.Module:
    """The deployment module for a float ``module`` under its recipe entry."""
    builders = {
        ("conv2d", "static"): _static_conv,
        ("linear", "static"): _static_linear,
        ("linear", "dynamic"): _dynamic_linear,
        ("embedding_bag", "weight_only"): _embedding_bag,
    }
    builder = builders.get((recipe.op, recipe.mode))
    if builder is None:
        raise ValueError(f"op {recipe.op!r} in mode {recipe.mode!r} is not supported; supported: "
                         + ", ".join(f"{op}/{mode}" for op, mode in builders))
    return builder(module, recipe)
