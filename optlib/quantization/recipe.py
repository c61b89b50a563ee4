"""The INT8 recipe: every quantization decision as a human-editable JSON document.

A recipe lists, per quantized module (by its qualified name), the op, the mode (``static``:
int8 in and out; ``dynamic``: activations quantized per call; ``weight_only``), and the
quantization parameters of its input, output and weight. Calibration produces one;
``save_recipe`` writes it; an engineer may edit a scale or drop a module to keep it in fp32;
``load_recipe`` applies it to a prepared model so that ``convert`` follows it exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "optlib-int8-recipe"
VERSION = 1
OPS = ("conv2d", "linear", "embedding_bag")
MODES = ("static", "dynamic", "weight_only")
ACTIVATION_DTYPES = ("quint8",)
WEIGHT_DTYPES = ("qint8", "quint8")
QSCHEMES = ("per_tensor_affine", "per_tensor_symmetric", "per_channel_symmetric", "per_channel_affine",
            "per_channel_affine_float_qparams")


class RecipeError(ValueError):
    """A recipe that is malformed or does not fit the model it is applied to."""


@dataclass(frozen=True)
class QParams:
    dtype: str
    qscheme: str
    scale: tuple[float, ...] | None  # None: derive from the weights at convert time
    zero_point: tuple[float, ...] | None
    axis: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype, "qscheme": self.qscheme}
        if self.axis is not None:
            out["axis"] = self.axis
        if self.scale is not None:
            per_tensor = self.qscheme.startswith("per_tensor")
            out["scale"] = self.scale[0] if per_tensor else list(self.scale)
            out["zero_point"] = self.zero_point[0] if per_tensor else list(self.zero_point)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str, dtypes: tuple[str, ...]) -> QParams:
        if not isinstance(data, dict):
            raise RecipeError(f"{where}: expected an object with dtype, qscheme, scale, zero_point")
        dtype, qscheme = data.get("dtype"), data.get("qscheme")
        if dtype not in dtypes:
            raise RecipeError(f"{where}.dtype {dtype!r} unsupported; supported: {', '.join(dtypes)}")
        if qscheme not in QSCHEMES:
            raise RecipeError(f"{where}.qscheme {qscheme!r} unsupported; supported: {', '.join(QSCHEMES)}")
        scale, zero_point = data.get("scale"), data.get("zero_point")
        if (scale is None) != (zero_point is None):
            raise RecipeError(f"{where}: give both scale and zero_point, or neither")
        if scale is not None:
            scale = tuple(float(s) for s in (scale if isinstance(scale, list) else [scale]))
            zero_point = tuple(float(z) for z in (zero_point if isinstance(zero_point, list) else [zero_point]))
            if len(scale) != len(zero_point) or not scale:
                raise RecipeError(f"{where}: scale and zero_point must have the same non-zero length")
            if any(not s > 0 for s in scale):
                raise RecipeError(f"{where}: every scale must be positive")
        axis = data.get("axis")
        return cls(dtype, qscheme, scale, zero_point, None if axis is None else int(axis))


@dataclass(frozen=True)
class ModuleRecipe:
    op: str
    mode: str
    weight: QParams
    input: QParams | None = None
    output: QParams | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "mode": self.mode}
        if self.input is not None:
            out["input"] = self.input.to_dict()
        if self.output is not None:
            out["output"] = self.output.to_dict()
        out["weight"] = self.weight.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> ModuleRecipe:
        op, mode = data.get("op"), data.get("mode")
        if op not in OPS:
            raise RecipeError(f"{where}.op {op!r} unsupported; supported: {', '.join(OPS)}")
        if mode not in MODES:
            raise RecipeError(f"{where}.mode {mode!r} unsupported; supported: {', '.join(MODES)}")
        activations = {}
        for side in ("input", "output"):
            if mode == "static":
                if side not in data:
                    raise RecipeError(f"{where}: static mode needs {side} qparams")
                activations[side] = QParams.from_dict(data[side], f"{where}.{side}", ACTIVATION_DTYPES)
                if activations[side].scale is None:
                    raise RecipeError(f"{where}.{side}: static activations need a scale and zero_point")
        if "weight" not in data:
            raise RecipeError(f"{where}: missing weight qparams")
        return cls(op, mode, QParams.from_dict(data["weight"], f"{where}.weight", WEIGHT_DTYPES), **activations)


@dataclass(frozen=True)
class Recipe:
    modules: dict[str, ModuleRecipe]
    backend: str = "x86"
    reduce_range: bool = False
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "backend": self.backend,
            "reduce_range": self.reduce_range,
            "config": self.config,
            "modules": {name: m.to_dict() for name, m in self.modules.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RecipeError(f"not an optlib INT8 recipe (expected \"format\": \"{FORMAT}\")")
        if data.get("version") != VERSION:
            raise RecipeError(f"recipe version {data.get('version')!r} unsupported; supported: {VERSION}")
        modules = data.get("modules")
        if not isinstance(modules, dict):
            raise RecipeError("recipe.modules must be an object keyed by module name")
        parsed = {name: ModuleRecipe.from_dict(entry, f"modules[{name!r}]") for name, entry in modules.items()}
        return cls(parsed, data.get("backend", "x86"), bool(data.get("reduce_range", False)), data.get("config", {}))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except json.JSONDecodeError as exc:
            raise RecipeError(f"{path}: not valid JSON: {exc}") from exc
