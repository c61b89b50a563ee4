"""``QuantConfig``: which ops INT8 quantization touches and how it observes them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ACTIVATION_OBSERVERS = ("histogram", "minmax")
WEIGHT_SCHEMES = ("per_channel_symmetric", "per_tensor_symmetric")
LINEAR_MODES = ("auto", "static", "dynamic")


@dataclass(frozen=True)
class QuantConfig:
    """The default is the recipe users know from x86 INT8 deployment.

    Weights are int8, symmetric, one scale per output channel; activations are uint8 with one
    scale and zero point per tensor, from a histogram observer that minimizes the quantization
    error rather than covering outliers. ``linear_mode="auto"`` quantizes Linear layers
    statically, except in transformer-style models (those with LayerNorm or attention
    modules), where activations vary too much per input for one static scale and dynamic
    quantization is both more accurate and faster. ``reduce_range=None`` uses 7-bit
    activations only on CPUs without VNNI, where the 8-bit products can saturate.
    """

    activation_observer: str = "histogram"
    weight_scheme: str = "per_channel_symmetric"
    linear_mode: str = "auto"
    quantize_conv: bool = True
    quantize_linear: bool = True
    quantize_embedding_bag: bool = True
    reduce_range: bool | None = None

    def __post_init__(self) -> None:
        checks = (
            ("activation_observer", ACTIVATION_OBSERVERS),
            ("weight_scheme", WEIGHT_SCHEMES),
            ("linear_mode", LINEAR_MODES),
        )
        for name, allowed in checks:
            if getattr(self, name) not in allowed:
                raise ValueError(f"unsupported {name} {getattr(self, name)!r}; supported: {', '.join(allowed)}")
        for name in ("quantize_conv", "quantize_linear", "quantize_embedding_bag"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.reduce_range not in (None, True, False):
            raise ValueError(f"reduce_range must be True, False or None, got {self.reduce_range!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantConfig:
        return cls(**data)


def cpu_has_vnni() -> bool:
    """Whether this CPU multiplies u8 x s8 without saturating (VNNI, AMX)."""
    try:
        from optlib.cpu import cpu_info

        return bool({"avx512_vnni", "avx_vnni", "amx"} & set(cpu_info().isa))
    except Exception:
        return False
