"""Prepack ``Linear`` weights into oneDNN's blocked layout, and fuse a following ReLU.

Stock ``nn.Linear`` runs ``addmm`` on the plain weight and a separate ReLU pass over the
output. :class:`PrepackedLinear` reorders the weight once and calls the oneDNN inner product
that inductor's freezing emits for fp32 (``mkldnn._linear_pointwise``), with the ReLU as a
post-op. On DLRM's MLP shapes (batch 128, 415->512, 512->256) this took 15-19 % off each
layer on a 2-core AVX-512 machine (0.296 ms against 0.365 ms for addmm + ReLU).

The oneDNN call costs about 12 us more per call than ``addmm`` (primitive lookup), which the
small layers do not earn back (13->512 and 256->1 at batch 128 ran slower packed). So, given
the sample inputs, each layer is timed both ways on its own input and packed only where that
was faster; without them every layer is packed.

The ReLU is fused where a ``Linear`` is followed by an ``nn.ReLU`` inside an ``nn.Sequential``
(the MLPs of recommendation models and most heads); that needs no graph capture, so it also
works on models that FX cannot trace. The dense weight stays the module's parameter, so
``state_dict`` keys and values are unchanged; the packed copy is rebuilt after loading.
"""

from __future__ import annotations

import copy
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# Their forward (or fast path) reads the Linear weights directly instead of calling the
# module, so their Linears must stay nn.Linear.
_READS_WEIGHTS = (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)
# Looked up once: resolving ``torch.ops.mkldnn._linear_pointwise`` per call cost microseconds.
_LINEAR_POINTWISE = torch.ops.mkldnn._linear_pointwise.default
# Per-layer timing: single calls each way, interleaved, compared by their fastest: another
# process taking a core only ever adds time, so the minimum is the layer's own cost where a
# median of a few calls followed the neighbour's bursts (on a shared 2-core machine it packed
# 256->64 and left 415->512). The packed layer must win by the margin, so that noise does not
# swap a layer for an equal one.
_ROUNDS, _MARGIN = 30, 0.03


class PrepackedLinear(nn.Module):
    """An ``nn.Linear`` with its weight packed once for oneDNN; ``unary`` is ``"none"`` or ``"relu"``."""

    def __init__(self, linear: nn.Linear, unary: str = "none") -> None:
        super().__init__()
        if unary not in ("none", "relu"):
            raise ValueError(f"unsupported unary {unary!r}; supported: 'none', 'relu'")
        self.weight = linear.weight
        self.bias = linear.bias
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.unary = unary
        self._packed: torch.Tensor | None = None
        self._packed_bias: torch.Tensor | None = None

    def packed_weight(self) -> torch.Tensor:
        if self._packed is None:
            with torch.no_grad():
                self._packed = torch.ops.mkldnn._reorder_linear_weight(self.weight.detach())
                self._packed_bias = None if self.bias is None else self.bias.detach()
        return self._packed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The packed kernel is fp32 inference only: other dtypes (autocast) and autograd take
        # the stock path, which computes the same function.
        if x.dtype != torch.float32 or (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad)):
            out = F.linear(x, self.weight, self.bias)
            return torch.relu(out) if self.unary == "relu" else out
        packed = self._packed if self._packed is not None else self.packed_weight()
        return _LINEAR_POINTWISE(x, packed, self._packed_bias, self.unary, [], "")

    def scripted(self) -> torch.jit.ScriptModule:
        """A TorchScript module running this layer's packed kernel on its current weights (a
        traced model cannot record the op's empty scalar list; a scripted submodule can)."""
        self.packed_weight()
        return torch.jit.script(_ScriptedPrepackedLinear(self._packed, self._packed_bias, self.unary))

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._packed = self._packed_bias = None

    def __getstate__(self):
        # Packed oneDNN tensors cannot be copied or pickled; copies repack on first use.
        state = dict(self.__dict__)
        state.update(_packed=None, _packed_bias=None)
        return state

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}, unary={self.unary}"


class _ScriptedPrepackedLinear(nn.Module):
    def __init__(self, packed: torch.Tensor, bias: torch.Tensor | None, unary: str) -> None:
        super().__init__()
        self.packed = packed
        self.bias = bias
        self.unary = unary

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, self.unary, [], "")


def with_scripted_linears(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose :class:`PrepackedLinear` layers are scripted, so that it can
    be traced; ``model`` itself is left as it is."""
    model = copy.deepcopy(model)
    if isinstance(model, PrepackedLinear):
        return model.scripted()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, PrepackedLinear):
                setattr(parent, name, child.scripted())
    return model


def linear_packable(module: nn.Module) -> str | None:
    """Why ``module`` cannot be prepacked, or ``None`` when it can."""
    if type(module) is not nn.Linear:
        return "not a plain Linear"
    if module.weight.dtype != torch.float32 or (module.bias is not None and module.bias.dtype != torch.float32):
        return f"weight dtype {module.weight.dtype} is not float32"
    if module.weight.device.type != "cpu":
        return f"weight on {module.weight.device}, not the CPU"
    if module.training:
        return "module is in training mode"
    return None


def _fused_sequential(seq: nn.Sequential, pack: Callable[[nn.Linear, str], PrepackedLinear | None]
                      ) -> nn.Sequential | None:
    """The Sequential with the Linears ``pack`` accepts packed (each taking a following
    ``nn.ReLU`` into it), or ``None`` if it packs none. Children keep their names, so the
    parameters keep their ``state_dict`` keys."""
    items = list(seq._modules.items())
    out: OrderedDict[str, nn.Module] = OrderedDict()
    changed, i = False, 0
    while i < len(items):
        name, child = items[i]
        if linear_packable(child) is None:
            follows_relu = i + 1 < len(items) and type(items[i + 1][1]) is nn.ReLU
            packed = pack(child, "relu" if follows_relu else "none")
            if packed is not None:
                out[name] = packed
                changed, i = True, i + (2 if follows_relu else 1)
                continue
        out[name] = child
        i += 1
    return nn.Sequential(out) if changed else None


def prepack_linears(model: nn.Module, fuse_relu: bool = True, sample_args: tuple | None = None) -> nn.Module:
    """Replace eval-mode fp32 ``nn.Linear`` modules of ``model`` (changed in place) with
    :class:`PrepackedLinear`; inside an ``nn.Sequential`` a following ``nn.ReLU`` is fused.

    With ``sample_args`` the model runs once on them, and each layer is packed only if the
    packed form ran faster on the input that layer saw (a layer the sample does not reach
    stays as it is). Layers of one shape (features, bias, fused ReLU, input shape and
    layout) run the same kernels, so the first one's timing decides for all of them: BERT-
    base's 49 Linears took a median 12.6 s to time one by one (1.4 s a shape at a time), and
    noise gave layers of one shape different answers (14 of 49 packed). ``fuse_relu=False`` keeps every ReLU module where
    it is: an FX ``GraphModule`` calls the children of its Sequentials by name, so removing
    one would break its graph.
    """
    inputs = None if sample_args is None else _layer_inputs(model, sample_args)
    faster: dict[tuple, bool] = {}

    def pack(linear: nn.Linear, unary: str) -> PrepackedLinear | None:
        packed = PrepackedLinear(linear, unary)
        if inputs is None:
            return packed
        x = inputs.get(id(linear))
        if x is None:
            return None
        shape = (linear.in_features, linear.out_features, linear.bias is not None, unary,
                 tuple(x.shape), x.stride(), x.dtype)
        if shape not in faster:
            faster[shape] = _packed_is_faster(linear, packed, x)
        return packed if faster[shape] else None

    if linear_packable(model) is None:
        return pack(model, "none") or model
    skipped = {id(m) for parent in model.modules() if isinstance(parent, _READS_WEIGHTS)
               for m in parent.modules()}
    if fuse_relu and type(model) is nn.Sequential:
        model = _fused_sequential(model, pack) or model
        skipped.update(id(c) for c in model.children() if type(c) is nn.Linear)

    def visit(parent: nn.Module) -> None:
        for name, child in list(parent.named_children()):
            if id(child) in skipped:
                continue
            if linear_packable(child) is None:
                packed = pack(child, "none")
                if packed is not None:
                    setattr(parent, name, packed)
                continue
            if fuse_relu and type(child) is nn.Sequential:
                fused = _fused_sequential(child, pack)
                if fused is not None:
                    setattr(parent, name, fused)
                    child = fused
                # Its Linears were decided on (and timed) with their ReLUs just now.
                skipped.update(id(c) for c in child.children() if type(c) is nn.Linear)
            visit(child)

    visit(model)
    return model


def has_packable_linear(model: nn.Module) -> bool:
    return any(linear_packable(m) is None for m in model.modules())


def _layer_inputs(model: nn.Module, sample_args: tuple) -> dict[int, torch.Tensor]:
    """The first input each packable Linear receives when ``model`` runs on ``sample_args``."""
    seen: dict[int, torch.Tensor] = {}

    def record(module: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], torch.Tensor):
            seen.setdefault(id(module), args[0].detach())

    handles = [m.register_forward_pre_hook(record) for m in model.modules() if linear_packable(m) is None]
    try:
        with torch.no_grad():
            model(*sample_args)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _packed_is_faster(linear: nn.Linear, packed: PrepackedLinear, x: torch.Tensor) -> bool:
    """Time the stock layer (with its ReLU) and the packed one on ``x``, interleaved."""
    def stock() -> Any:
        out = linear(x)
        return torch.relu(out) if packed.unary == "relu" else out

    def fast() -> Any:
        return packed(x)

    samples: dict[Callable[[], Any], list[float]] = {stock: [], fast: []}
    with torch.no_grad():
        for run in samples:
            run()
        for _ in range(_ROUNDS):
            for run, times in samples.items():
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
    return min(samples[fast]) < (1 - _MARGIN) * min(samples[stock])
