"""Results files are validated before anything is stored; statistics of the raw samples."""

from __future__ import annotations

import json

import pytest

from db.results import summary_stats
from worker.results_reader import ResultsRejected, read_results


def _entry(**over):
    entry = {"model": "m", "mode": "eval", "precision": "fp32", "variant": "eager", "family": "cnn",
             "metric": "latency", "unit": "ms", "direction": "lower", "samples": [1.0, 2.0, 3.0],
             "status": "ok", "error": None}
    entry.update(over)
    return entry


def _write(tmp_path, results, **top):
    doc = {"name": "x", "environ": {}, "metrics": {}, "results": results, **top}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    return path


def test_ok_failed_and_primary(tmp_path) -> None:
    path = _write(tmp_path, [
        _entry(primary=True),
        _entry(variant="optlib", metric="latency_p90", primary=False),
        _entry(variant="compile", samples=[], status="failed", error="boom"),
    ])
    got = read_results(path)
    assert [m.name for m in got.measurements] == ["m-eval-fp32-eager_latency", "m-eval-fp32-optlib_latency_p90"]
    assert [m.primary for m in got.measurements] == [True, False]
    assert got.failures == {"m-eval-fp32-compile_latency": "failed: boom"}


def test_without_primary_marks_every_metric_is_followed(tmp_path) -> None:
    got = read_results(_write(tmp_path, [_entry(), _entry(variant="optlib")]))
    assert all(m.primary for m in got.measurements)


@pytest.mark.parametrize(("entry", "field"), [
    (_entry(samples=[1.0, -2.0]), "results[0].samples[1]"),
    (_entry(direction="sideways"), "results[0].direction"),
    (_entry(model=""), "results[0].model"),
])
def test_bad_entries_rejected_naming_the_field(tmp_path, entry, field) -> None:
    with pytest.raises(ResultsRejected, match=field.replace("[", r"\[").replace("]", r"\]")):
        read_results(_write(tmp_path, [entry]))


def test_nan_rejected(tmp_path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"name": "x", "environ": {}, "metrics": {}, "results": [' +
                    json.dumps(_entry()).replace("[1.0, 2.0, 3.0]", "[1.0, NaN]") + "]}")
    with pytest.raises(ResultsRejected, match="samples"):
        read_results(path)


def test_missing_and_garbage_files(tmp_path) -> None:
    with pytest.raises(ResultsRejected, match="wrote no results file"):
        read_results(tmp_path / "none.json")
    (tmp_path / "g.json").write_text("{not json")
    with pytest.raises(ResultsRejected, match="not JSON"):
        read_results(tmp_path / "g.json")


def test_summary_stats() -> None:
    stats = summary_stats([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats["n"] == 5 and stats["median"] == 3.0 and stats["mean"] == 22.0
    assert stats["p90"] == pytest.approx(61.6) and stats["p99"] == pytest.approx(96.16)
    assert stats["stdev"] == pytest.approx(43.6176, rel=1e-4)
    assert summary_stats([5.0])["stdev"] == 0.0
