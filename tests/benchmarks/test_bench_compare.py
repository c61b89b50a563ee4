"""compare: a planted 20 % slowdown is flagged, an A/A pair is not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.cli import main
from benchmarks.compare import compare_results
from benchmarks.results import BenchmarkResult, ResultsFile


def results(samples: dict[str, np.ndarray], direction: str = "lower") -> ResultsFile:
    rows = tuple(BenchmarkResult(model=m, mode="eval", precision="fp32", variant="eager",
                                 family="cnn", metric="latency_p50", unit="ms",
                                 direction=direction, samples=tuple(float(x) for x in s),
                                 primary=True) for m, s in samples.items())
    return ResultsFile(name="t", environ={}, metrics={}, results=rows)


def latencies(rng: np.random.Generator, median: float, n: int = 60) -> np.ndarray:
    """Skewed, noisy latencies like a real benchmark: lognormal around ``median``."""
    return median * rng.lognormal(0.0, 0.05, n)


@pytest.mark.parametrize("seed", range(5))
def test_planted_slowdown_is_flagged_and_aa_is_not(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = results({"slow": latencies(rng, 10.0), "same": latencies(rng, 5.0)})
    b = results({"slow": latencies(rng, 12.0), "same": latencies(rng, 5.0)})
    verdicts = {c.key.split("-")[0]: c for c in compare_results(a, b)}
    assert verdicts["slow"].verdict == "worse"
    assert verdicts["slow"].ratio == pytest.approx(1.2, rel=0.05)
    assert verdicts["same"].verdict == "same"


def two_speed_latencies(rng: np.random.Generator, median: float, slow_share: float, n: int = 600) -> np.ndarray:
    """A host whose core runs some iterations at half speed, switching within milliseconds;
    within a speed the iterations scatter by 1 %."""
    slow = rng.random(n) < slow_share
    return np.where(slow, 2.0, 1.0) * median * rng.lognormal(0.0, 0.01, n)


def test_a_host_switching_speeds_makes_no_change_of_an_aa_pair_and_hides_no_real_one() -> None:
    """Same code: A ran at the slow speed 45 % of its iterations, B 55 %. Each median lands on
    a different speed (B/A of the medians near 2); the pairwise ratio says "same". A real 20 %
    slowdown under the same mix of speeds is still flagged at its size."""
    rng = np.random.default_rng(6)
    a = results({"same": two_speed_latencies(rng, 5.0, 0.45), "slow": two_speed_latencies(rng, 5.0, 0.5)})
    b = results({"same": two_speed_latencies(rng, 5.0, 0.55), "slow": two_speed_latencies(rng, 6.0, 0.5)})
    verdicts = {c.key.split("-")[0]: c for c in compare_results(a, b)}
    same = verdicts["same"]
    assert same.median_b / same.median_a > 1.5 and same.p_value < 0.01
    assert same.ratio == pytest.approx(1.0, abs=0.03)
    assert same.verdict == "same"
    assert verdicts["slow"].verdict == "worse"
    assert verdicts["slow"].ratio == pytest.approx(1.2, rel=0.03)


def test_metrics_at_zero_fall_back_to_the_ratio_of_medians() -> None:
    a = results({"m": np.array([0.0, 2.0, 2.0, 2.0, 2.0])})
    b = results({"m": np.array([0.0, 3.0, 3.0, 3.0, 3.0])})
    (c,) = compare_results(a, b)
    assert c.ratio == pytest.approx(1.5)


def test_direction_decides_worse_or_better() -> None:
    rng = np.random.default_rng(0)
    a = results({"m": latencies(rng, 100.0)}, direction="higher")
    b = results({"m": latencies(rng, 80.0)}, direction="higher")
    assert compare_results(a, b)[0].verdict == "worse"
    assert compare_results(b, a)[0].verdict == "better"


def test_small_but_significant_change_is_not_flagged() -> None:
    rng = np.random.default_rng(1)
    a = results({"m": 10.0 * rng.lognormal(0, 0.001, 5000)})
    b = results({"m": 10.05 * rng.lognormal(0, 0.001, 5000)})
    (c,) = compare_results(a, b)
    assert c.p_value is not None and c.p_value < 0.01
    assert c.verdict == "same"


def test_missing_benchmarks_are_reported() -> None:
    rng = np.random.default_rng(2)
    a = results({"x": latencies(rng, 1.0)})
    b = results({"y": latencies(rng, 1.0)})
    assert {c.verdict for c in compare_results(a, b)} == {"missing in A", "missing in B"}


def test_compare_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(3)
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(results({"m": latencies(rng, 10.0)}).to_dict()))
    pb.write_text(json.dumps(results({"m": latencies(rng, 12.0)}).to_dict()))
    assert main(["compare", str(pa), str(pb)]) == 0
    out = capsys.readouterr().out
    assert "m-eval-fp32-eager_latency_p50" in out and "!! worse" in out
    assert main(["compare", str(pa), str(pb), "--fail-on-regression"]) == 1
    assert main(["compare", str(pa), str(pa), "--fail-on-regression"]) == 0
    pb.write_text("{}")
    assert main(["compare", str(pa), str(pb)]) == 2
    assert "name: missing" in capsys.readouterr().err
