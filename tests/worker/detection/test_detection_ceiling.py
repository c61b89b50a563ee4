"""The known-noise bound: what a detector that knew each series' noise could find, and when."""

from __future__ import annotations

import json

import pytest

from worker.detection.ceiling import findable, known_noise_bound, points_to_find
from worker.detection.evaluate import read_rows, select


def row(cv: float | None, changes: list[tuple[int, float]], n: int = 100, missing: tuple[int, ...] = ()) -> dict:
    return {
        "n_commits": n,
        "raw": [[] if i in missing else [1.0] for i in range(n)],
        "changes": [{"index": i, "rel_change": rel, "magnitude": abs(rel)} for i, rel in changes],
        "noise": {} if cv is None else {"approx_cv_of_commit_median": cv},
    }


def test_findable_is_the_step_over_its_standard_error():
    # 5 % at 1 % noise after 3 points against 40: log(1.05) / (0.01 * sqrt(1/3 + 1/40)) = 8.15
    assert findable(0.05, 0.01, 3, 40, z=8.1)
    assert not findable(0.05, 0.01, 3, 40, z=8.2)
    # a throughput that drops counts like a latency that rises: only the size matters
    assert findable(-0.05, 0.01, 3, 40, z=8.1)
    assert not findable(0.2, 0.01, 0, 40, z=1.0)


def test_recall_counts_the_points_each_change_has():
    rows = [
        # 10 % at 1 %: findable unless the next change leaves it no point to stand on
        row(0.01, [(40, 0.1), (80, 0.05)]),
        # 5 % right before the end (2 points) at 2 % noise: log(1.05)/(0.02*sqrt(1/2+1/40)) = 3.4
        row(0.02, [(30, 0.1), (98, 0.05)]),
        row(0.05, [(50, 0.01)]),
        row(None, [(50, 0.2)]),  # no noise truth: left out
    ]
    got = known_noise_bound(rows, z=5.0, max_lag=12, pre_window=40, min_post=1).recall_by_size
    assert got == {"0.01": 0.0, "0.02": None, "0.03": None, "0.05": 0.5, "0.1": 1.0, "0.2": None}
    # unmeasured commits are not points: the same 5 % step at 1 % noise with only its own
    # commit measured after it stands log(1.05) / (0.01 * sqrt(1 + 1/40)) = 4.8 errors out
    sparse = row(0.01, [(80, 0.05)], missing=tuple(range(81, 100)))
    assert known_noise_bound([sparse], z=5.0, max_lag=12, pre_window=40, min_post=1).recall_by_size["0.05"] == 0.0
    assert known_noise_bound([sparse], z=4.8, max_lag=12, pre_window=40, min_post=1).recall_by_size["0.05"] == 1.0
    # a detector that needs three points at the new level cannot call it on one
    assert known_noise_bound([sparse], z=4.8, max_lag=12, pre_window=40, min_post=3).recall_by_size["0.05"] == 0.0
    assert known_noise_bound([row(None, [(50, 0.2)])], z=5.0, max_lag=12, pre_window=40, min_post=1) is None


def test_the_delay_is_the_commit_of_the_first_point_that_finds_the_step():
    # 3 % at 1 %: log(1.03) / (0.01 * sqrt(1/L + 1/40)) is 4.9 at L = 3 and 5.6 at L = 4
    assert points_to_find(0.03, 0.01, 12, 40, z=5.0, min_post=1) == 4
    # 5 % at 1 % stands 6.7 errors out at L = 2: the detector's min_post decides
    assert points_to_find(0.05, 0.01, 12, 40, z=5.0, min_post=1) == 2
    assert points_to_find(0.05, 0.01, 12, 40, z=5.0, min_post=3) == 3
    assert points_to_find(0.03, 0.01, 3, 40, z=5.0, min_post=1) is None
    # the 5 % change is found at its third point (delay 2); the 3 % one at its fourth
    # measured point, commit 44 with commit 41 unmeasured (delay 4)
    rows = [row(0.01, [(40, 0.05)]), row(0.01, [(40, 0.03)], missing=(41,))]
    bound = known_noise_bound(rows, z=5.0, max_lag=12, pre_window=40, min_post=3)
    assert bound.recall_by_size["0.05"] == 1.0 and bound.recall_by_size["0.03"] == 1.0
    assert bound.delay_median == 3.0 and bound.delay_p90 == pytest.approx(3.8)


def test_the_rows_are_read_once_with_line_numbers_and_split_like_the_series(tmp_path):
    path = tmp_path / "f.jsonl"
    rows = [row(0.01, [(50, 0.1)]), row(None, []), row(0.01, [(50, 0.01)])]
    path.write_text(json.dumps(rows[0]) + "\n\n" + "\n".join(json.dumps(r) for r in rows[1:]) + "\n\n")
    read = read_rows(path)
    assert [lineno for lineno, _ in read] == [1, 3, 4]
    even = known_noise_bound((r for _, r in select(read, "even")), z=5, max_lag=12, pre_window=40, min_post=3)
    assert even.recall_by_size["0.1"] == 1.0
    assert known_noise_bound((r for _, r in select(read, "odd")), z=5, max_lag=12, pre_window=40, min_post=3) is None


def test_unreadable_noise_or_changes_name_the_series():
    bad = dict(row(0.01, [(50, 0.1)]), id="s-7")
    bad["noise"] = {"approx_cv_of_commit_median": "wide"}
    with pytest.raises(ValueError, match="series s-7"):
        known_noise_bound([bad], z=5, max_lag=12, pre_window=40, min_post=3)
