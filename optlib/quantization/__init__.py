"""INT8 quantization: static (calibrated) for conv/linear, weight-only for embedding bags,
dynamic for transformer Linears and LSTMs; recipes as editable JSON."""

from optlib.quantization.api import (
    convert,
    load,
    load_recipe,
    prepare,
    quantize_dynamic,
    recipe_of,
    save,
    save_recipe,
)
from optlib.quantization.config import QuantConfig
from optlib.quantization.recipe import Recipe, RecipeError

__all__ = [
    "QuantConfig",
    "Recipe",
    "RecipeError",
    "convert",
    "load",
    "load_recipe",
    "prepare",
    "quantize_dynamic",
    "recipe_of",
    "save",
    "save_recipe",
]
