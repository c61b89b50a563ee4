"""Fold an inference-mode BatchNorm into the convolution or linear layer that feeds it.

In eval mode BN is a per-channel affine map ``y = (x - mean) * gamma / sqrt(var + eps) + beta``,
so it can be folded into the weights and bias of the preceding layer, which saves one full pass
over the activation. The pattern is matched on an FX graph, like ``torch.fx.experimental
.optimization.fuse``, so that only a conv whose sole user is the BN is folded: folding a conv
whose raw output is also read elsewhere would change that other reader's input.

Models that FX cannot trace still get the folding inside their ``nn.Sequential`` containers,
where the data flow is known without tracing.
"""

from __future__ import annotations

import copy

import torch
import torch.fx
from torch import nn

from optlib._log import logger

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BNS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_CONV_BN_PAIRS = ((nn.Conv1d, nn.BatchNorm1d), (nn.Conv2d, nn.BatchNorm2d), (nn.Conv3d, nn.BatchNorm3d))
_LINEAR_BN_PAIRS = ((nn.Linear, nn.BatchNorm1d),)


def _bn_scale_shift(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-channel ``(scale, shift)`` that an eval-mode BN applies."""
    var = bn.running_var.detach().double()
    mean = bn.running_mean.detach().double()
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(var)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + bn.eps)
    return scale, beta - mean * scale


def _foldable(layer: nn.Module, bn: nn.Module) -> str | None:
    """Why ``bn`` cannot be folded into ``layer``, or ``None`` if it can."""
    if bn.training or layer.training:
        return "the model is in training mode"
    if bn.running_mean is None or bn.running_var is None:
        return "the BatchNorm keeps no running statistics"
    out_channels = layer.out_channels if isinstance(layer, _CONVS) else layer.out_features
    if out_channels != bn.num_features:
        return f"{out_channels} output channels feed a BatchNorm of {bn.num_features} features"
    if isinstance(layer, _CONVS) and layer.weight.dtype not in (torch.float32, torch.float64, torch.bfloat16):
        return f"weight dtype {layer.weight.dtype} is not a float type"
    return None


def fold_into(layer: nn.Module, bn: nn.Module) -> nn.Module:
    """A copy of conv or linear ``layer`` that computes ``bn(layer(x))`` (eval-mode BN)."""
    scale, shift = _bn_scale_shift(bn)
    folded = copy.deepcopy(layer)
    weight = layer.weight.detach().double()
    folded.weight = nn.Parameter((weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))).to(layer.weight.dtype))
    bias = layer.bias.detach().double() if layer.bias is not None else torch.zeros_like(scale)
    folded.bias = nn.Parameter((bias * scale + shift).to(layer.weight.dtype))
    return folded


def _fold_graph(model: nn.Module, pairs, what: str) -> nn.Module:
    graph_module = torch.fx.symbolic_trace(model)
    modules = dict(graph_module.named_modules())
    folded_any = False
    for node in list(graph_module.graph.nodes):
        if node.op != "call_module" or not isinstance(modules.get(node.target), _BNS):
            continue
        producer = node.args[0] if node.args else None
        if not isinstance(producer, torch.fx.Node) or producer.op != "call_module":
            continue
        layer, bn = modules[producer.target], modules[node.target]
        if not any(isinstance(layer, lt) and type(bn) is bt for lt, bt in pairs):
            continue
        if len(producer.users) > 1:
            logger.debug("%s: %s output has other users; not folded", what, producer.target)
            continue
        reason = _foldable(layer, bn)
        if reason:
            logger.debug("%s: %s + %s not folded: %s", what, producer.target, node.target, reason)
            continue
        _set_submodule(graph_module, producer.target, fold_into(layer, bn))
        node.replace_all_uses_with(producer)
        graph_module.graph.erase_node(node)
        folded_any = True
    if not folded_any:
        return model
    graph_module.graph.lint()
    graph_module.delete_all_unused_submodules()
    graph_module.recompile()
    return graph_module


def _fold_sequentials(model: nn.Module, pairs, what: str) -> nn.Module:
    for name, seq in list(model.named_modules()):
        if not isinstance(seq, nn.Sequential):
            continue
        keys = list(seq._modules)
        for first, second in zip(keys, keys[1:]):
            layer, bn = seq._modules[first], seq._modules[second]
            if not any(isinstance(layer, lt) and type(bn) is bt for lt, bt in pairs):
                continue
            reason = _foldable(layer, bn)
            if reason:
                logger.debug("%s: %s.%s not folded: %s", what, name, second, reason)
                continue
            seq._modules[first] = fold_into(layer, bn)
            seq._modules[second] = nn.Identity()
    return model


def _set_submodule(root: nn.Module, target: str, module: nn.Module) -> None:
    parent_name, _, leaf = target.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, leaf, module)


def _fold(model: nn.Module, pairs, what: str, inplace: bool) -> nn.Module:
    if model.training:
        logger.debug("%s: model is in training mode; BN statistics still change, nothing folded", what)
        return model
    if not any(isinstance(m, _BNS) for m in model.modules()):
        logger.debug("%s: model has no BatchNorm", what)
        return model
    model = model if inplace else copy.deepcopy(model)
    try:
        return _fold_graph(model, pairs, what)
    except Exception as exc:  # symbolic tracing fails on data-dependent control flow
        logger.debug("%s: FX tracing failed (%s); folding inside nn.Sequential only", what, exc)
        return _fold_sequentials(model, pairs, what)


def fold_conv_bn(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Fold each eval-mode BatchNorm into the Conv1d/2d/3d (grouped, depthwise, bias-less) before it."""
    return _fold(model, _CONV_BN_PAIRS, "conv_bn_folding", inplace)


def fold_linear_bn(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Fold each eval-mode BatchNorm1d into the Linear before it (2-D activations)."""
    return _fold(model, _LINEAR_BN_PAIRS, "linear_bn_folding", inplace)
