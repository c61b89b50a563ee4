"""Discovery of the modules that register a model or a variant.

Each public module of a package defines one spec under a known attribute (``MODEL`` or
``VARIANT``); a new model is a new file, never an edit to a hand-kept list.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any, TypeVar

Spec = TypeVar("Spec")


def discover(package: str, path: Iterable[str], attribute: str, spec_type: type[Spec]) -> dict[str, Spec]:
    """``{spec.name: spec}`` for every public module of ``package`` (``path`` is its ``__path__``)."""
    found: dict[str, Any] = {}
    for info in pkgutil.iter_modules(path):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        spec = getattr(module, attribute, None)
        if not isinstance(spec, spec_type):
            raise TypeError(f"{module.__name__} defines no {attribute} = {spec_type.__name__}(...)")
        if spec.name in found:
            raise ValueError(f"{attribute.lower()} name {spec.name!r} defined twice")
        found[spec.name] = spec
    return found
