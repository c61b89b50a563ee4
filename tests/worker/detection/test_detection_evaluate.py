"""`python -m worker.detection evaluate FILE.jsonl [--json]` on a small generated file."""

from __future__ import annotations

import json

import pytest

from tests.worker.detection.labelled import run_cli, write_file
from worker.detection.scoring import Detection, Tally, TrueChange

KEYS = {"precision", "recall", "recall_by_size", "false_alarms_per_1k", "delay_median", "delay_p90", "us_per_update"}


def test_evaluate_json(tmp_path, series):
    data = tmp_path / "small.jsonl"
    write_file(data, series)
    proc = run_cli("evaluate", str(data), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert KEYS <= set(out)
    assert set(out["recall_by_size"]) == {"0.01", "0.02", "0.03", "0.05", "0.1", "0.2"}
    assert out["recall"] == 1.0 and out["precision"] == 1.0
    assert out["recall_by_size"]["0.2"] == 1.0 and out["recall_by_size"]["0.01"] is None
    assert 0 <= out["delay_median"] <= out["delay_p90"] <= 12
    assert out["us_per_update"] > 0
    assert set(out["baselines"]) == {"fixed-5%", "lookback-z", "t-test-12/12"}
    assert KEYS <= set(out["baselines"]["t-test-12/12"])


def test_evaluate_table_and_errors(tmp_path, series):
    data = tmp_path / "small.jsonl"
    write_file(data, series)
    proc = run_cli("evaluate", str(data), "--split", "odd")
    assert proc.returncode == 0, proc.stderr
    for name in ("perfhud", "fixed-5%", "lookback-z", "t-test-12/12", "FA/1k", "R@5%"):
        assert name in proc.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    proc = run_cli("evaluate", str(bad))
    assert proc.returncode == 2 and "bad.jsonl:1" in proc.stderr
    proc = run_cli("evaluate", str(data), "--set", "z_confirm=1")
    assert proc.returncode != 0 and "z_suspect" in proc.stderr


@pytest.mark.parametrize(
    "detections,matched,delays",
    [
        ([Detection(101, 103)], 1, [3]),
        ([Detection(103, 104)], 0, []),  # three commits off: a false alarm
        ([Detection(99, 101), Detection(100, 102)], 1, [2]),  # one-to-one: the closer one
    ],
)
def test_scoring_matches_within_two_commits_one_to_one(detections, matched, delays):
    tally = Tally()
    tally.add_series([TrueChange(100, 0.05)], detections, n_commits=200, updates=200, seconds=0.01)
    s = tally.summary()
    assert tally.matched == matched and tally.delays == delays
    assert s["false_alarms_per_1k"] == pytest.approx(1000 * (len(detections) - matched) / 200)
    assert s["recall_by_size"]["0.05"] == matched


def test_evaluate_prints_the_known_noise_bound_where_the_file_has_the_truth(tmp_path, series):
    data = tmp_path / "small.jsonl"
    write_file(data, series)
    proc = run_cli("evaluate", str(data), "--only-ours")
    assert proc.returncode == 0, proc.stderr
    assert "known-noise bound" not in proc.stdout  # this file's rows carry no noise truth
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    for r in rows:
        r["noise"] = {"approx_cv_of_commit_median": 0.005}
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    proc = run_cli("evaluate", str(data), "--only-ours")
    assert "known-noise bound" in proc.stdout and "R@20% 100.0" in proc.stdout, proc.stdout
    out = json.loads(run_cli("evaluate", str(data), "--json", "--only-ours").stdout)
    bound = out["known_noise_bound"]
    assert bound["recall_by_size"]["0.2"] == 1.0 and bound["recall_by_size"]["0.01"] is None
    assert bound["delay_median"] is not None and "delay median" in proc.stdout


def test_evaluate_rejects_a_file_that_is_not_json_or_whose_noise_is_unreadable(tmp_path, series):
    data = tmp_path / "small.jsonl"
    write_file(data, series)
    lines = data.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text(lines[0] + "\n{not json\n")
    proc = run_cli("evaluate", str(broken))
    assert proc.returncode == 2 and "broken.jsonl:2" in proc.stderr, proc.stderr
    row = json.loads(lines[1])
    row["noise"] = {"approx_cv_of_commit_median": "wide"}
    broken.write_text(lines[0] + "\n" + json.dumps(row) + "\n")
    proc = run_cli("evaluate", str(broken), "--only-ours")
    assert proc.returncode == 2 and "series t-1" in proc.stderr, proc.stderr
