"""Remember which runner won on this machine, so that the next ``optimize`` builds only that one.

Measuring every candidate costs from seconds to minutes (inductor compiles the model twice,
the exported runtimes convert it), and a benchmark run or a service restart pays it every
time. The winner depends on the model's structure and code, the input shapes, the dtype, the
thread count, the CPU, optlib's own code and the versions of the libraries that build the
runners: all of them go into the key. Only the decision is stored, never compiled code. A cached choice is still
built and checked against eager on the sample input; one that fails is forgotten and every
candidate is measured again.

Where: ``$OPTLIB_CACHE_DIR`` or ``$XDG_CACHE_HOME/optlib`` (``~/.cache/optlib``), one small
JSON file per key under ``tune/``. ``OPTLIB_TUNE_CACHE=0`` (or ``OptimizeConfig(tune_cache=
False)``) measures every time; deleting the directory forgets every choice.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from optlib._log import logger

_FORMAT = 1
_DISABLED = {"0", "false", "no", "off"}
# Libraries whose version changes which runner wins (or whether it builds at all).
_LIBRARIES = ("onnxruntime", "openvino", "onnx", "onnxscript")


def cache_dir() -> Path | None:
    """The directory of tuning decisions, or ``None`` when ``OPTLIB_TUNE_CACHE`` turns it off."""
    if os.environ.get("OPTLIB_TUNE_CACHE", "1").strip().lower() in _DISABLED:
        return None
    root = os.environ.get("OPTLIB_CACHE_DIR")
    if root:
        return Path(root) / "tune"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "optlib" / "tune"


def enabled(requested: bool = True) -> bool:
    """Whether a decision is looked up and stored: asked for, and not turned off by the
    environment (then the key, which reads every module's source, is not worth computing)."""
    return requested and cache_dir() is not None


def _source_digest(cls: type) -> str:
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # built in C, or defined where no source is kept
        source = f"{cls.__module__}.{cls.__qualname__}"
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def model_fingerprint(module: nn.Module) -> str:
    """A digest of what makes one model run faster on one runner than another.

    The module tree (names, classes, their settings and source code) and every parameter and
    buffer's name, shape, dtype and layout; not the weights' values, which do not change
    which runner is fastest (training a model must not throw its choice away).
    """
    parts: list[Any] = []
    classes: dict[str, str] = {}
    for name, sub in module.named_modules():
        cls = type(sub)
        qualified = f"{cls.__module__}.{cls.__qualname__}"
        if qualified not in classes:
            classes[qualified] = _source_digest(cls)
        parts.append((name, qualified, sub.extra_repr()))
    for name, tensor in (*module.named_parameters(), *module.named_buffers()):
        parts.append((name, tuple(tensor.shape), str(tensor.dtype), str(tensor.layout),
                      tensor.is_contiguous(memory_format=torch.channels_last) if tensor.dim() == 4 else None))
    payload = json.dumps([parts, sorted(classes.items())], default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _argument_signature(args: tuple) -> list[Any]:
    out: list[Any] = []
    for a in args:
        if isinstance(a, torch.Tensor):
            out.append(("tensor", tuple(a.shape), str(a.dtype), str(a.layout), a.is_contiguous()))
        elif isinstance(a, (tuple, list)):
            out.append(("seq", _argument_signature(tuple(a))))
        else:
            out.append(("value", type(a).__name__, repr(a)[:200]))
    return out


def library_digest(root: Path) -> str:
    """A digest of the Python source under ``root`` (file names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def optlib_digest() -> str:
    """optlib's own source, once per process: a choice made by other optlib code (other passes,
    other ways of building a runner) is measured again, not reused. A host that benchmarks
    optlib's own commits would otherwise keep the winner an older commit picked."""
    return library_digest(Path(__file__).resolve().parents[1])


def _environment() -> dict[str, Any]:
    from optlib import __version__
    from optlib.cpu import cpu_info

    try:
        cpu = cpu_info()
        machine = {"model": cpu.model_name, "isa": sorted(cpu.isa)}
    except Exception:  # an unreadable /proc still gets a cache, keyed on less
        machine = {}
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count()
    return {"optlib": __version__, "optlib_code": optlib_digest(), "torch": torch.__version__,
            "libraries": versions, "cpu": machine,
            "cores": cores, "threads": torch.get_num_threads()}


def tune_key(scope: str, module: nn.Module, args: tuple, dtype: torch.dtype | None,
             candidates: Iterable[str]) -> str:
    """The cache key of one tuning decision. ``scope`` separates kinds of decision (fp32/bf16
    graph mode, INT8 runtime routing) made for the same module."""
    payload = {"format": _FORMAT, "scope": scope, "model": model_fingerprint(module),
               "args": _argument_signature(args), "dtype": str(dtype), "candidates": sorted(candidates),
               "environment": _environment()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def lookup(key: str) -> dict[str, Any] | None:
    """The stored decision for ``key`` (``{"chosen": ..., "report": ...}``), or ``None``."""
    directory = cache_dir()
    if directory is None:
        return None
    path = directory / f"{key}.json"
    try:
        entry = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.debug("tune cache: unreadable entry %s (%s), ignored", path, exc)
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("chosen"), str):
        logger.debug("tune cache: malformed entry %s, ignored", path)
        return None
    return entry


def store(key: str, chosen: str, report: dict[str, Any]) -> None:
    """Write a decision atomically (a reader never sees half a file); failures only log."""
    directory = cache_dir()
    if directory is None:
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".tmp", delete=False) as handle:
            json.dump({"chosen": chosen, "report": report}, handle)
        os.replace(handle.name, directory / f"{key}.json")
    except OSError as exc:
        logger.debug("tune cache: cannot write %s (%s); the choice is not remembered", directory, exc)


def forget(key: str) -> None:
    directory = cache_dir()
    if directory is not None:
        (directory / f"{key}.json").unlink(missing_ok=True)
