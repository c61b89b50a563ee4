"""Alerts of one push grouped by the commit they blame, largest first."""

from __future__ import annotations

import pytest

from worker.detection import Alert, group_alerts


def test_groups_by_commit_and_ranks_by_size():
    alerts = [
        Alert("resnet50/latency", "aaa111", "regression", 3.0, host="h1"),
        Alert("bert/latency", "bbb222", "regression", 12.0, host="h1"),
        Alert("bert/latency", "aaa111", "regression", 4.0, host="h2"),
        Alert("gpt2/throughput", "aaa111", "improvement", 6.0, host="h1"),
        Alert("vit/throughput", "ccc333", "regression", -2.0),
    ]
    groups = group_alerts(alerts)
    assert [g.commit for g in groups] == ["bbb222", "aaa111", "ccc333"]
    a = groups[1]
    assert len(a.alerts) == 3
    assert a.hosts == ("h1", "h2")
    assert (a.regressions, a.improvements) == (2, 1)
    assert a.max_abs_change_pct == pytest.approx(6.0)
    assert [x.series for x in a.alerts] == ["gpt2/throughput", "bert/latency", "resnet50/latency"]
    assert a.summary.startswith("aaa111 moved 3 series on 2 hosts")
    assert groups[0].summary.startswith("bbb222 moved 1 series on 1 host (1 worse; largest +12.0%")
    assert groups[2].hosts == ()


def test_empty():
    assert group_alerts([]) == []


def test_alert_state_is_checked():
    with pytest.raises(ValueError):
        Alert("s", "c", "suspect", 1.0)
