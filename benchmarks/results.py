"""The results file: its dataclasses, its validation, reading and writing.

The format is TorchBench's userbenchmark file (``name``, ``environ``, ``metrics`` as
``<model>-<mode>-<precision>-<variant>_<metric>: number``) extended with ``results``: one
entry per (benchmark, metric) holding the raw samples, unit, direction, status, error and the
command and configuration that reproduce it. ``results.schema.json`` describes the same
format for other tools; :func:`load_results` is the validator the platform trusts, and each
of its errors names the offending field, because a results file comes from an arbitrary
commit of an arbitrary repository and must be rejected before anything is stored.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BenchmarkResult", "ResultsError", "ResultsFile", "load_results", "write_results",
           "FORMAT_VERSION", "MAX_BYTES"]

FORMAT_VERSION = 1
MAX_BYTES = 50 * 1024 * 1024
DIRECTIONS = ("lower", "higher")
STATUSES = ("ok", "failed", "skipped")
# Units whose values may be negative (a signal-to-noise ratio in decibels); every other
# unit is a time, a size, a rate or a ratio and must be >= 0.
SIGNED_UNITS = frozenset({"dB"})
_NAME_FIELDS = ("model", "mode", "precision", "variant", "family", "metric", "unit")


class ResultsError(ValueError):
    """A results file is malformed; ``field`` names where (``results[3].samples[0]``)."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name


@dataclass(frozen=True)
class BenchmarkResult:
    """One metric of one benchmark: raw samples and what they mean.

    ``status`` is ``ok`` (samples present, no error), ``failed`` (the benchmark raised or
    crashed; ``error`` says how) or ``skipped`` (it could not run here, e.g. an optional
    package is missing; ``error`` gives the reason). ``primary`` marks the metrics the
    platform tracks as series.
    """

    model: str
    mode: str
    precision: str
    variant: str
    family: str
    metric: str
    unit: str
    direction: str
    samples: tuple[float, ...]
    primary: bool = False
    status: str = "ok"
    error: str | None = None
    scenario: str = "default"
    command: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def benchmark(self) -> str:
        return f"{self.model}-{self.mode}-{self.precision}-{self.variant}"

    @property
    def metric_key(self) -> str:
        return f"{self.benchmark}_{self.metric}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["samples"] = list(self.samples)
        out["command"] = list(self.command)
        out["config"] = dict(self.config)
        return out


@dataclass(frozen=True)
class ResultsFile:
    name: str
    environ: Mapping[str, Any]
    metrics: Mapping[str, float]
    results: tuple[BenchmarkResult, ...]
    version: int = FORMAT_VERSION

    def failed(self) -> list[BenchmarkResult]:
        return [r for r in self.results if r.status == "failed"]

    def primary(self) -> list[BenchmarkResult]:
        return [r for r in self.results if r.primary and r.status == "ok"]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "environ": dict(self.environ),
                "metrics": dict(self.metrics), "results": [r.to_dict() for r in self.results]}


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise ResultsError(f"{where}{key}", "missing")
    return data[key]


def _string(value: Any, where: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value):
        raise ResultsError(where, f"must be a non-empty string, got {value!r:.80}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultsError(where, f"must be a number, got {value!r:.80}")
    if not math.isfinite(value):
        raise ResultsError(where, f"{value} is not a finite number")
    return float(value)


def _parse_result(raw: Any, where: str) -> BenchmarkResult:
    if not isinstance(raw, dict):
        raise ResultsError(where, f"must be an object, got {type(raw).__name__}")
    names = {key: _string(_require(raw, key, f"{where}."), f"{where}.{key}")
             for key in _NAME_FIELDS}
    direction = _require(raw, "direction", f"{where}.")
    if direction not in DIRECTIONS:
        raise ResultsError(f"{where}.direction",
                           f"{direction!r:.40} is not one of {', '.join(DIRECTIONS)}")
    status = raw.get("status", "ok")
    if status not in STATUSES:
        raise ResultsError(f"{where}.status", f"{status!r:.40} is not one of {', '.join(STATUSES)}")
    error = raw.get("error")
    if error is not None:
        _string(error, f"{where}.error")
    raw_samples = _require(raw, "samples", f"{where}.")
    if not isinstance(raw_samples, list):
        raise ResultsError(f"{where}.samples", "must be a list of numbers")
    samples = tuple(_number(v, f"{where}.samples[{i}]") for i, v in enumerate(raw_samples))
    if status == "ok":
        if not samples:
            raise ResultsError(f"{where}.samples", "empty: an ok result needs samples")
        if error is not None:
            raise ResultsError(f"{where}.error", "set on a result whose status is ok")
    elif error is None:
        raise ResultsError(f"{where}.error", f"missing: a {status} result must say why")
    if names["unit"] not in SIGNED_UNITS:
        for i, value in enumerate(samples):
            if value < 0:
                raise ResultsError(f"{where}.samples[{i}]",
                                   f"negative value {value} for unit {names['unit']}")
    primary = raw.get("primary", False)
    if not isinstance(primary, bool):
        raise ResultsError(f"{where}.primary", f"must be true or false, got {primary!r:.40}")
    command = raw.get("command", [])
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        raise ResultsError(f"{where}.command", "must be a list of strings")
    config = raw.get("config", {})
    if not isinstance(config, dict):
        raise ResultsError(f"{where}.config", "must be an object")
    scenario = _string(raw.get("scenario", "default"), f"{where}.scenario")
    return BenchmarkResult(**names, direction=direction, samples=samples, primary=primary,
                           status=status, error=error, scenario=scenario,
                           command=tuple(command), config=config)


def _read_source(source: str | os.PathLike[str] | bytes | Mapping[str, Any], max_bytes: int
                 ) -> Any:
    if isinstance(source, Mapping):
        return source
    if isinstance(source, bytes):
        text = source
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ResultsError("file", f"cannot read {path}: {exc.strerror}") from exc
        if size > max_bytes:
            raise ResultsError("file", f"{size} bytes exceeds the limit of {max_bytes} bytes")
        text = path.read_bytes()
    if len(text) > max_bytes:
        raise ResultsError("file", f"{len(text)} bytes exceeds the limit of {max_bytes} bytes")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError("file", f"not JSON: {exc}") from exc


def load_results(source: str | os.PathLike[str] | bytes | Mapping[str, Any],
                 max_bytes: int = MAX_BYTES) -> ResultsFile:
    """Parse and validate a results file (a path, its bytes, or an already-parsed dict).

    Raises :class:`ResultsError` naming the first bad field. The size limit is checked
    before the file is read, so a huge file costs nothing.
    """
    data = _read_source(source, max_bytes)
    if not isinstance(data, dict):
        raise ResultsError("file", f"top level must be an object, got {type(data).__name__}")
    version = data.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ResultsError("version", f"{version!r:.40} is not supported; supported: "
                                      f"{FORMAT_VERSION}")
    name = _string(_require(data, "name", ""), "name")
    environ = _require(data, "environ", "")
    if not isinstance(environ, dict):
        raise ResultsError("environ", "must be an object")
    raw_metrics = _require(data, "metrics", "")
    if not isinstance(raw_metrics, dict):
        raise ResultsError("metrics", "must be an object of name -> number")
    metrics = {key: _number(value, f"metrics.{key}") for key, value in raw_metrics.items()}
    raw_results = _require(data, "results", "")
    if not isinstance(raw_results, list):
        raise ResultsError("results", "must be a list")
    results = tuple(_parse_result(r, f"results[{i}]") for i, r in enumerate(raw_results))
    seen: set[str] = set()
    for i, result in enumerate(results):
        if result.metric_key in seen:
            raise ResultsError(f"results[{i}]", f"duplicate benchmark metric {result.metric_key}")
        seen.add(result.metric_key)
    return ResultsFile(name=name, environ=environ, metrics=metrics, results=results,
                       version=version)


def write_results(results: ResultsFile, path: str | os.PathLike[str]) -> None:
    """Validate, then write atomically (a reader never sees half a file)."""
    data = results.to_dict()
    load_results(data)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    os.replace(tmp, target)
