"""Prepack convolution weights into oneDNN's blocked layout, and fuse ReLU / residual adds.

Stock ``nn.Conv2d`` hands oneDNN a plain weight on every call, which reorders it into its
blocked layout each time. :class:`PrepackedConv2d` reorders once and calls the same oneDNN
primitive that inductor's freezing emits (``mkldnn._convolution_pointwise``), which also
applies a following ReLU or residual add in the convolution's epilogue, saving a pass over
the activation. The dense weight stays the module's parameter so that ``state_dict`` saves
and loads as usual; the packed copy is rebuilt after loading. fp32 only: under bf16
autocast the stock path already picks oneDNN's bf16 kernels. ``Linear`` layers get the same
treatment in :mod:`optlib.passes.prepack_linear`; :func:`prepack_weights` applies both.
"""

from __future__ import annotations

import copy
import operator

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from optlib._log import logger
from optlib.passes.prepack_linear import has_packable_linear, prepack_linears

_RELUS = (torch.relu, F.relu, torch.relu_)


class PrepackedConv2d(nn.Module):
    """A ``Conv2d`` with its weight packed once; ``unary`` is ``"none"`` or ``"relu"``."""

    def __init__(self, conv: nn.Conv2d, unary: str = "none") -> None:
        super().__init__()
        if unary not in ("none", "relu"):
            raise ValueError(f"unsupported unary {unary!r}; supported: 'none', 'relu'")
        self.weight = conv.weight
        self.bias = conv.bias
        self.stride, self.dilation, self.groups = list(conv.stride), list(conv.dilation), conv.groups
        self.padding = list(conv.padding)
        self.unary = unary
        self.add_unary = "none"
        self._packed: torch.Tensor | None = None

    def _pack(self, input_size: list[int]) -> torch.Tensor:
        """The weight in oneDNN's layout for inputs of ``input_size``, kept for later calls
        (inputs of other sizes reuse it). Packed for no input size, oneDNN picks the blocked
        layout of its own kernels, which its kernels for another input layout then reorder at
        every call: on an AVX2 CPU, packed so, resnet18's channels-last convolutions ran 5x
        slower than stock ``nn.Conv2d``."""
        with torch.no_grad():
            self._packed = torch.ops.mkldnn._reorder_convolution_weight(
                self.weight.detach(), self.padding, self.stride, self.dilation, self.groups, input_size
            )
        return self._packed

    def forward(self, x: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
        weight = self._packed if self._packed is not None else self._pack(list(x.shape))
        bias = None if self.bias is None else self.bias.detach()
        if other is None:
            return torch.ops.mkldnn._convolution_pointwise(
                x, weight, bias, self.padding, self.stride, self.dilation, self.groups, self.unary, [], ""
            )
        unary = None if self.add_unary == "none" else self.add_unary
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, other, weight, bias, self.padding, self.stride, self.dilation, self.groups, "add", None, unary, [], ""
        )

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._packed = None

    def __getstate__(self):
        # Packed oneDNN tensors cannot be copied or pickled; copies repack on first use.
        state = dict(self.__dict__)
        state["_packed"] = None
        return state

    def extra_repr(self) -> str:
        return f"{tuple(self.weight.shape)}, stride={self.stride}, padding={self.padding}, groups={self.groups}, unary={self.unary}, add_unary={self.add_unary}"


def _packable(conv: nn.Module) -> str | None:
    if type(conv) is not nn.Conv2d:
        return "not a plain Conv2d"
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        return f"padding {conv.padding!r} / mode {conv.padding_mode!r} is not explicit zero padding"
    if conv.weight.dtype != torch.float32:
        return f"weight dtype {conv.weight.dtype} is not float32"
    if conv.training:
        return "module is in training mode"
    return None


def prepack_weights(model: nn.Module, inplace: bool = False, sample_args: tuple | None = None) -> nn.Module:
    """Replace eval-mode fp32 ``Conv2d`` modules with :class:`PrepackedConv2d`, fusing epilogues,
    and ``Linear`` modules with :class:`~optlib.passes.prepack_linear.PrepackedLinear`.

    The convolution fusions need an FX trace (a ReLU or add that is the conv's only user); a
    model FX cannot trace still gets its convolutions prepacked, without fusion. Linears fuse
    a following ReLU inside ``nn.Sequential`` containers, which needs no trace; given
    ``sample_args``, only the Linears that ran faster packed on them are packed.
    """
    if model.training:
        logger.debug("weights_prepack: model is in training mode; weights change every step")
        return model
    if not torch.backends.mkldnn.is_available():
        logger.debug("weights_prepack: this torch build has no oneDNN")
        return model
    convs = any(_packable(m) is None for m in model.modules())
    linears = has_packable_linear(model)
    if not convs and not linears:
        logger.debug("weights_prepack: no eval-mode fp32 Conv2d or Linear to prepack")
        return model
    model = model if inplace else copy.deepcopy(model)
    if convs:
        model = _prepack_convolutions(model)
    if linears:
        # A GraphModule calls its Sequentials' children one by one: their ReLUs must stay.
        model = prepack_linears(model, fuse_relu=not isinstance(model, torch.fx.GraphModule),
                                sample_args=sample_args)
    return model


def _prepack_convolutions(model: nn.Module) -> nn.Module:
    try:
        return _prepack_and_fuse(torch.fx.symbolic_trace(model))
    except Exception as exc:
        logger.debug("weights_prepack: FX tracing failed (%s); prepacking without fusion", exc)
    if isinstance(model, nn.Conv2d):
        return PrepackedConv2d(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if _packable(child) is None:
                setattr(parent, name, PrepackedConv2d(child))
    return model


def _is_relu(node: torch.fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return type(modules.get(node.target)) is nn.ReLU
    if node.op == "call_function" and node.target in _RELUS:
        return len(node.args) == 1
    return node.op == "call_method" and node.target in ("relu", "relu_") and len(node.args) == 1


def _sole_user(node: torch.fx.Node) -> torch.fx.Node | None:
    return next(iter(node.users)) if len(node.users) == 1 else None


def _prepack_and_fuse(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    modules = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or _packable(modules.get(node.target)) is not None or len(node.args) != 1:
            continue
        packed = PrepackedConv2d(modules[node.target])
        user = _sole_user(node)
        if user is not None and _is_relu(user, modules):
            packed.unary = "relu"
            user.replace_all_uses_with(node)
            gm.graph.erase_node(user)
        elif user is not None and _is_residual_add(user, node):
            other = user.args[1] if user.args[0] is node else user.args[0]
            after = _sole_user(user)
            if after is not None and _is_relu(after, modules):
                packed.add_unary = "relu"
                after.replace_all_uses_with(user)
                gm.graph.erase_node(after)
            node.args = (node.args[0], other)
            user.replace_all_uses_with(node)
            gm.graph.erase_node(user)
        parent, _, leaf = node.target.rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, leaf, packed)
    gm.graph.lint()
    gm.recompile()
    return gm


def _is_residual_add(user: torch.fx.Node, conv: torch.fx.Node) -> bool:
    """``conv + other`` where ``other`` is computed before the conv (so it exists at its call)."""
    if user.op != "call_function" or user.target not in (operator.add, torch.add) or user.kwargs:
        return False
    if len(user.args) != 2 or conv not in user.args or user.args[0] is user.args[1]:
        return False
    other = user.args[1] if user.args[0] is conv else user.args[0]
    if not isinstance(other, torch.fx.Node):
        return False
    order = {n: i for i, n in enumerate(conv.graph.nodes)}
    return order[other] < order[conv]
