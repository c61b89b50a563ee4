"""The results format: the validator names the bad field, and agrees with the JSON Schema."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from benchmarks.results import ResultsError, ResultsFile, load_results, write_results

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" /
                     "results.schema.json").read_text())


def valid() -> dict[str, Any]:
    row = {"model": "resnet18", "mode": "eval", "precision": "fp32", "variant": "eager",
           "family": "cnn", "metric": "latency_p50", "unit": "ms", "direction": "lower",
           "samples": [1.0, 1.1, 0.9], "primary": True, "status": "ok", "error": None,
           "scenario": "default", "command": ["python", "-m", "benchmarks", "run"],
           "config": {"spec": {"batch_size": 2}}}
    failed = dict(row, variant="optlib", samples=[], status="failed",
                  error="ImportError: no optlib")
    return {"name": "perfhud-cpu", "version": 1, "environ": {"cpu_model": "x", "threads": 2},
            "metrics": {"resnet18-eval-fp32-eager_latency_p50": 1.0}, "results": [row, failed]}


def mutate(path: str, value: Any) -> dict[str, Any]:
    """A copy of valid() with the dotted ``path`` set to ``value`` (or deleted for DELETE)."""
    data = copy.deepcopy(valid())
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


DELETE = object()

MALFORMED = [
    ("name", DELETE, "name"),
    ("environ", DELETE, "environ"),
    ("metrics", DELETE, "metrics"),
    ("results", DELETE, "results"),
    ("name", "", "name"),
    ("environ", [], "environ"),
    ("metrics.resnet18-eval-fp32-eager_latency_p50", "fast", "metrics.resnet18"),
    ("results.0.samples", [], "results[0].samples"),
    ("results.0.samples", "1.0", "results[0].samples"),
    ("results.0.samples.1", -2.0, "results[0].samples[1]"),
    ("results.0.direction", "up", "results[0].direction"),
    ("results.0.model", DELETE, "results[0].model"),
    ("results.0.unit", DELETE, "results[0].unit"),
    ("results.0.status", "meh", "results[0].status"),
    ("results.1.error", None, "results[1].error"),
    ("results.0.command", "python -m x", "results[0].command"),
    ("version", 7, "version"),
]


@pytest.mark.parametrize(("path", "value", "field"), MALFORMED,
                         ids=[f"{p}={'missing' if v is DELETE else v!r}" for p, v, _ in MALFORMED])
def test_malformed_is_rejected_naming_the_field(path: str, value: Any, field: str) -> None:
    data = mutate(path, value)
    with pytest.raises(ResultsError) as info:
        load_results(data)
    assert info.value.field.startswith(field), str(info.value)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_samples_are_rejected(bad: float, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(mutate("results.0.samples.2", bad)))  # json writes NaN/Infinity
    with pytest.raises(ResultsError, match=r"results\[0\]\.samples\[2\]"):
        load_results(path)


def test_not_json_and_oversized_files(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{not json")
    with pytest.raises(ResultsError, match="^file: not JSON"):
        load_results(path)
    path.write_text(json.dumps(valid()))
    with pytest.raises(ResultsError, match="exceeds the limit"):
        load_results(path, max_bytes=100)
    with pytest.raises(ResultsError, match="^file: cannot read"):
        load_results(tmp_path / "absent.json")


def test_duplicate_metric_is_rejected() -> None:
    data = valid()
    data["results"].append(copy.deepcopy(data["results"][0]))
    with pytest.raises(ResultsError, match=r"results\[2\].*duplicate"):
        load_results(data)


def test_valid_round_trips_and_matches_schema(tmp_path: Path) -> None:
    data = valid()
    jsonschema.validate(data, SCHEMA)
    parsed = load_results(data)
    assert isinstance(parsed, ResultsFile)
    ok, failed = parsed.results
    assert (ok.direction, ok.samples, ok.error, ok.family) == ("lower", (1.0, 1.1, 0.9), None,
                                                                "cnn")
    assert failed.error == "ImportError: no optlib" and failed.status == "failed"
    assert ok.metric_key == "resnet18-eval-fp32-eager_latency_p50"
    assert parsed.failed() == [failed] and parsed.primary() == [ok]
    path = tmp_path / "out.json"
    write_results(parsed, path)
    assert load_results(path) == parsed
    assert load_results(path.read_bytes()) == parsed


def test_sqnr_may_be_negative_but_times_may_not() -> None:
    data = mutate("results.0.unit", "dB")
    data["results"][0]["samples"] = [-3.0]
    load_results(data)
    jsonschema.validate(data, SCHEMA)
