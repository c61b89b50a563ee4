"""`worker.detection.synthetic` and `python -m worker.detection generate`: fresh labelled
series of the documented kind, reproducible from a seed, that the evaluator reads."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from worker.detection.evaluate import read_rows, series_from_rows
from worker.detection.scoring import SIZES
from worker.detection.synthetic import NoiseModel, generate

REPO = Path(__file__).resolve().parents[3]


def test_the_same_seed_gives_the_same_series_and_another_seed_others():
    assert generate(5, seed=3) == generate(5, seed=3)
    assert generate(5, seed=3)[0]["raw"] != generate(5, seed=4)[0]["raw"]


def test_rows_follow_the_file_format_and_the_stated_model():
    model = NoiseModel()
    rows = generate(200, seed=1, model=model)
    for row in rows:
        n, k = row["n_commits"], row["repeats"]
        assert len(row["raw"]) == len(row["values"]) == n and k in model.repeats
        for samples, value in zip(row["raw"], row["values"]):
            if samples:
                assert len(samples) == k and value == pytest.approx(np.median(samples), rel=1e-6)
            else:
                assert value is None
        indices = [c["index"] for c in row["changes"]]
        assert indices == sorted(indices)
        assert all(b - a >= model.min_gap for a, b in zip([0] + indices, indices + [n - 1]))
        for c in row["changes"]:
            assert c["magnitude"] in SIZES and abs(c["rel_change"]) == c["magnitude"]
            # A regression is a larger latency or a smaller throughput.
            larger = c["rel_change"] > 0
            assert (c["direction"] == "regression") == (larger == row["lower_is_better"])
        assert row["metric"] == ("latency" if row["lower_is_better"] else "throughput")
        assert row["noise"]["n_missing"] == sum(1 for r in row["raw"] if not r)
    # The mixture the model states, within what 200 draws allow.
    assert 0.15 <= np.mean([r["noise"]["bimodal"]["enabled"] for r in rows]) <= 0.35
    assert 0.2 <= np.mean([r["noise"]["drift"]["kind"] != "none" for r in rows]) <= 0.5
    changes = [c for r in rows for c in r["changes"]]
    assert set(c["magnitude"] for c in changes) == set(SIZES)
    assert 0.5 <= np.mean([c["direction"] == "regression" for c in changes]) <= 0.7
    assert len(series_from_rows(enumerate(rows, 1), "generated")) == 200


def test_a_quiet_series_has_the_noise_its_record_states():
    """With spikes, drift, hops, gaps and changes off, the spread of the per-commit medians
    is what the record says (from its run-to-run and within-run parts)."""
    quiet = replace(
        NoiseModel(), p_spiked_runs=0.0, p_spiked_samples=0.0, drift_weights=(1.0, 0.0, 0.0, 0.0), p_bimodal=0.0,
        p_missing_series=0.0, change_counts=(1.0,), n_commits=(400, 400),
    )
    ratios = []
    for row in generate(40, seed=7, model=quiet):
        noise = row["noise"]
        ratios.append(np.std(np.log(row["values"])) / noise["approx_cv_of_commit_median"])
        assert row["changes"] == [] and noise["n_missing"] == 0
    assert 0.9 <= float(np.median(ratios)) <= 1.1


def test_a_host_with_two_speeds_is_slower_for_the_share_it_records():
    model = replace(NoiseModel(), p_bimodal=1.0, cv=(0.005, 0.005), p_spiked_runs=0.0, p_spiked_samples=0.0,
                    drift_weights=(1.0, 0.0, 0.0, 0.0), change_counts=(1.0,), p_missing_series=0.0)
    for row in generate(10, seed=2, model=model):
        bimodal = row["noise"]["bimodal"]
        worse = 1.0 if row["lower_is_better"] else -1.0
        offsets = worse * (np.log(row["values"]) - np.log(row["noise"]["base"]))
        slow = offsets > math.log1p(bimodal["gap_rel"]) / 2
        assert slow.mean() == pytest.approx(bimodal["frac_slow"], abs=0.03)


def test_bad_models_and_counts_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="change_counts"):
        NoiseModel(change_counts=(0.5, 0.2))
    with pytest.raises(ValueError, match="min_gap"):
        NoiseModel(n_commits=(30, 60))
    with pytest.raises(ValueError, match="n_series"):
        generate(0, seed=1)


def test_generate_writes_a_file_that_evaluate_scores(tmp_path):
    out = tmp_path / "fresh.jsonl"
    cmd = [sys.executable, "-m", "worker.detection"]
    proc = subprocess.run(cmd + ["generate", "--series", "6", "--seed", "5", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [row for _, row in read_rows(out)]
    assert len(rows) == 6 and rows == generate(6, seed=5)
    proc = subprocess.run(cmd + ["evaluate", str(out), "--json", "--only-ours"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    scored = json.loads(proc.stdout)
    assert scored["true_changes"] == sum(len(r["changes"]) for r in rows)
    assert scored["known_noise_bound"] is not None
    proc = subprocess.run(cmd + ["generate", "--series", "0", "--seed", "5"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "n_series" in proc.stderr
