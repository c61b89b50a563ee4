"""The paired bootstrap of `paired.compare` and `python -m worker.detection compare`."""

from __future__ import annotations

import json

import pytest

from tests.worker.detection.labelled import run_cli, write_file
from worker.detection.paired import compare, figure_names, intervals
from worker.detection.scoring import SIZES, SeriesOutcome


def outcome(detections: int, matched: int, found_5: int = 0, total_5: int = 0, commits: int = 200) -> SeriesOutcome:
    """A series' outcome whose true changes, if any, are all 5 % changes."""
    found = tuple(found_5 if s == 0.05 else 0 for s in SIZES)
    total = tuple(total_5 if s == 0.05 else 0 for s in SIZES)
    return SeriesOutcome(detections=detections, matched=matched, commits=commits, found_by_size=found, total_by_size=total)


def by_name(differences):
    return {d.name: d for d in differences}


def test_the_same_outcomes_differ_by_nothing():
    a = [outcome(2, 1, 1, 2), outcome(0, 0), outcome(3, 3, 2, 3)] * 30
    diffs = compare(a, list(a), resamples=300)
    assert [d.name for d in diffs] == figure_names()
    for d in diffs:
        if d.a is None:
            assert d.b is None and d.low is None and d.high is None
        else:
            assert d.delta == 0.0 and d.low == 0.0 and d.high == 0.0 and not d.clear


def test_false_alarms_spread_over_many_series_are_a_clear_difference():
    a = [outcome(1, 1, 1, 1) for _ in range(200)]
    # B raises one false alarm more on every fourth series.
    b = [outcome(2 if i % 4 == 0 else 1, 1, 1, 1) for i in range(200)]
    d = by_name(compare(a, b, resamples=1000))
    fa = d["false_alarms_per_1k"]
    assert fa.a == 0.0 and fa.b == pytest.approx(1000 * 50 / (200 * 200))
    assert fa.clear and fa.low > 0
    assert d["precision"].clear and d["precision"].high < 0
    assert not d["recall"].clear and d["recall_0.05"].delta == 0.0


def test_a_clump_of_false_alarms_in_one_series_is_not_a_clear_difference():
    """As many extra false alarms as above, all in one series: a resample without that series
    (about one in three) shows no difference, so the interval reaches zero."""
    a = [outcome(1, 1, 1, 1) for _ in range(200)]
    b = list(a)
    b[17] = outcome(51, 1, 1, 1)
    fa = by_name(compare(a, b, resamples=1000))["false_alarms_per_1k"]
    assert fa.delta == pytest.approx(1000 * 50 / (200 * 200))
    assert fa.low == 0.0 and not fa.clear


def test_recall_of_a_size_without_changes_is_undefined():
    a = [outcome(1, 1, 1, 1)] * 10
    d = by_name(compare(a, a, resamples=50))
    assert d["recall_0.2"].a is None and d["recall_0.2"].low is None
    assert d["recall_0.05"].a == 1.0


def test_the_interval_is_reproducible_and_follows_the_seed():
    a = [outcome(i % 3, min(i % 3, 1), i % 2, 1) for i in range(100)]
    b = [outcome((i + 1) % 3, min((i + 1) % 3, 1), 1, 1) for i in range(100)]
    first, again = compare(a, b, resamples=200, seed=3), compare(a, b, resamples=200, seed=3)
    assert first == again
    assert compare(a, b, resamples=200, seed=4) != first


@pytest.mark.parametrize(
    "a, b, kwargs, message",
    [
        ([outcome(1, 1)], [outcome(1, 1)] * 2, {}, "A has 1 series and B 2"),
        ([], [], {}, "no series"),
        ([outcome(1, 1, 1, 1)], [outcome(1, 1, 1, 2)], {}, "not the same series"),
        ([outcome(1, 1)], [outcome(1, 1)], {"resamples": 0}, "resamples"),
        ([outcome(1, 1)], [outcome(1, 1)], {"level": 1.0}, "level"),
    ],
)
def test_compare_says_what_is_wrong_with_its_input(a, b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare(a, b, **kwargs)


def test_compare_command_replays_both_settings_on_the_same_series(tmp_path, series):
    data = tmp_path / "small.jsonl"
    write_file(data, series)
    proc = run_cli("compare", str(data), str(data), "--set", "z_confirm=1000", "--json", "--resamples", "200",
                   "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["series"] == 8 and out["b_changes"] == {"z_confirm": 1000.0}
    figures = {f["name"]: f for f in out["figures"]}
    # The defaults find the three changes of each copy; a threshold of 1,000 finds none of them.
    assert figures["recall"]["a"] == 1.0 and figures["recall"]["b"] == 0.0
    assert figures["recall"]["clear"] and figures["recall"]["high"] < 0

    table = run_cli("compare", str(data), "--base", "z_confirm=6", "--set", "z_confirm=6", "--resamples", "50")
    assert table.returncode == 0, table.stderr
    assert "B: A with no change" in table.stdout and "z_confirm=6" in table.stdout
    assert "false_alarms_per_1k" in table.stdout and "R@20%" in table.stdout and "*" not in table.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "nope=1"], "expected NAME=VALUE with NAME one of"),
        (["--set", "z_confirm=high"], "'high' is not a number"),
        (["--set", "z_suspect=9"], "need 0 < z_suspect <= z_confirm"),
        (["--jobs", "0"], "--jobs 0"),
    ],
)
def test_compare_command_rejects_bad_settings(tmp_path, series, args, message):
    data = tmp_path / "small.jsonl"
    write_file(data, series)
    proc = run_cli("compare", str(data), *args)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_compare_command_names_a_missing_file(tmp_path):
    proc = run_cli("compare", str(tmp_path / "absent.jsonl"), "--set", "z_confirm=6")
    assert proc.returncode == 2 and "absent.jsonl" in proc.stderr


def test_intervals_hold_the_figure_and_narrow_with_more_series():
    mixture = [outcome(1, 1, 1, 1), outcome(2, 1, 0, 1), outcome(0, 0), outcome(1, 0, 0, 1)]
    few, many = intervals(mixture * 10, resamples=500), intervals(mixture * 200, resamples=500)
    precision, fa = 2 / 4, 1000 * 2 / (4 * 200)
    for spread in (few, many):
        assert spread["precision"][0] <= precision <= spread["precision"][1]
        assert spread["false_alarms_per_1k"][0] <= fa <= spread["false_alarms_per_1k"][1]
        assert spread["recall_0.2"] == (None, None)
    assert many["precision"][1] - many["precision"][0] < 0.5 * (few["precision"][1] - few["precision"][0])
    with pytest.raises(ValueError, match="no series"):
        intervals([])


def test_evaluate_prints_intervals_over_the_series_when_asked(tmp_path, series):
    data = tmp_path / "small.jsonl"
    write_file(data, series)
    proc = run_cli("evaluate", str(data), "--only-ours", "--intervals", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    spread = out["intervals"]
    assert spread["level"] == 0.9 and set(spread) == {"level", *figure_names()}
    low, high = spread["recall"]
    assert low <= out["recall"] <= high
    table = run_cli("evaluate", str(data), "--only-ours", "--intervals")
    assert table.returncode == 0, table.stderr
    assert "90% interval over the series" in table.stdout
    plain = run_cli("evaluate", str(data), "--only-ours", "--json")
    assert "intervals" not in json.loads(plain.stdout)
