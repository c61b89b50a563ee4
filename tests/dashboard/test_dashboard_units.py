"""The dashboard's pure parts: reading GitHub payloads, statistics, figures, commands, colours."""

from __future__ import annotations

import dataclasses
import json
import shlex
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from dashboard.cells import STYLES, format_pct
from dashboard.figures import series_figure
from dashboard.github import Ignored, PayloadError, Pong, PushWork, interpret, signature_matches, signature_for
from dashboard.reproduce import reproduce_command
from dashboard.series import detectable_change_pct
from dashboard.stats import compare_samples
from db.models import Benchmark, Direction, Host, Repository
from db.queries.series import Series, SeriesAlert, SeriesPoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github-webhooks"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize("event,fixture,expected", [
    ("ping", "ping.json", Pong),
    ("push", "push.json", Ignored),
    ("push", "push.with-organization.json", Ignored),
    ("push", "push.with-new-branch.json", PushWork),
    ("push", "push.with-no-username-committer.json", PushWork),
    ("pull_request", "pull_request.opened.json", PushWork),
    ("pull_request", "pull_request.synchronize.json", PushWork),
    ("pull_request", "pull_request.reopened.json", PushWork),
    ("pull_request", "pull_request.opened.with-null-body.json", PushWork),
    ("pull_request", "pull_request.closed.json", Ignored),
    ("issues", "pull_request.opened.json", Ignored),
])
def test_interpret_real_payloads(event: str, fixture: str, expected: type) -> None:
    assert isinstance(interpret(event, load(fixture)), expected)


def test_push_to_a_tag_that_is_not_deleted_is_ignored() -> None:
    payload = load("push.with-new-branch.json")
    payload["ref"] = "refs/tags/v1.0"
    outcome = interpret("push", payload)
    assert isinstance(outcome, Ignored) and "not a branch" in outcome.reason


def test_new_branch_push_details() -> None:
    work = interpret("push", load("push.with-new-branch.json"))
    assert isinstance(work, PushWork)
    assert (work.repository, work.branch, work.before_sha, work.source) == ("Codertocat/Hello-World", "master", None, "push")
    (commit,) = work.commits
    assert commit.author == "Codertocat" and commit.committed_at == datetime(2019, 5, 15, 15, 19, 25, tzinfo=UTC)


@pytest.mark.parametrize("mutate,fragment", [
    (lambda p: p.pop("repository"), "repository.full_name"),
    (lambda p: p.update(commits="x"), "commits must be a list"),
    (lambda p: p["commits"][0].update(id="$(reboot)"), "40 lowercase hex"),
    (lambda p: p["commits"][0].update(timestamp="yesterday"), "ISO 8601"),
    (lambda p: p.update(ref=5), "ref must be a string"),
])
def test_malformed_push_payloads_name_the_field(mutate, fragment: str) -> None:  # type: ignore[no-untyped-def]
    payload = load("push.with-new-branch.json")
    mutate(payload)
    with pytest.raises(PayloadError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
        interpret("push", payload)


def test_signature_check_is_exact() -> None:
    body = b'{"a": 1}'
    good = signature_for("s" * 20, body)
    assert signature_matches("s" * 20, body, good)
    assert not signature_matches("s" * 20, body + b" ", good)
    assert not signature_matches("s" * 20, body, good.upper())
    assert not signature_matches("s" * 20, body, "sha256=\u00e9")


@pytest.mark.parametrize("base,head,ratio,significant", [
    ([10, 10.1, 9.9, 10.05, 9.95], [12.5, 12.6, 12.4, 12.55, 12.45], 1.25, True),
    ([10, 10.1, 9.9, 10.05, 9.95], [10, 10.1, 9.9, 10.05, 9.95], 1.0, False),
    ([10.0], [11.0], 1.1, False),
])
def test_compare_samples(base: list[float], head: list[float], ratio: float, significant: bool) -> None:
    result = compare_samples(base, head)
    assert result.ratio == pytest.approx(ratio)
    assert result.change_pct == pytest.approx((ratio - 1) * 100)
    assert result.significant is significant
    if len(base) < 2:
        assert result.p_value is None and result.significance == "too few samples"


def test_compare_samples_follows_the_pairwise_ratio_on_a_host_with_two_speeds() -> None:
    """The same code on a host that ran at half speed 45 % of the base's iterations and 55 %
    of the head's: the medians land on different speeds, the pairwise ratio stays near 1."""
    rng = np.random.default_rng(7)

    def run(slow_share: float) -> list[float]:
        return list(np.where(rng.random(400) < slow_share, 2.0, 1.0) * 5.0 * rng.lognormal(0.0, 0.01, 400))

    base, head = run(0.45), run(0.55)
    assert np.median(head) / np.median(base) > 1.5
    assert compare_samples(base, head).ratio == pytest.approx(1.0, abs=0.02)


def test_compare_samples_rejects_empty_and_zero() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        compare_samples([], [1.0])
    with pytest.raises(ValueError, match="positive"):
        compare_samples([0.0, 0.0], [1.0, 1.0])


def test_reproduce_command_quotes_every_stored_string() -> None:
    bench = Benchmark(model="m; rm -rf ~", mode="eval", precision="fp32", variant="$(id)", metric="latency_p50",
                      unit="ms", direction=Direction.LOWER)
    host = Host(name="h", cores="2-7", threads=6)
    command = reproduce_command("https://example.com/r.git`id`", "a" * 40, bench, host)
    lines = command.splitlines()
    assert shlex.split(lines[0])[2] == "https://example.com/r.git`id`"
    argv = shlex.split(lines[2])
    assert argv[:3] == ["taskset", "-c", "2-7"]
    assert argv[argv.index("--model") + 1] == "m; rm -rf ~"
    assert argv[argv.index("--variant") + 1] == "$(id)"
    assert argv[argv.index("--threads") + 1] == "6"


def _series(verdicts: list[str | None]) -> Series:
    bench = Benchmark(id=1, model="resnet50", mode="eval", precision="fp32", variant="optlib",
                      metric="latency_p50", unit="ms", direction=Direction.LOWER)
    baseline = Benchmark(id=2, model="resnet50", mode="eval", precision="fp32", variant="eager",
                         metric="latency_p50", unit="ms", direction=Direction.LOWER)
    points = [
        SeriesPoint(commit_id=i, sha=f"{i:040x}", title=f"<b>commit {i}</b>", committed_at=None,
                    samples=[9.0 + i, 10.0 + i, 11.0 + i], median=10.0 + i, verdict=v,
                    change_pct=5.0 if v else None, confidence=0.9 if v else None)
        for i, v in enumerate(verdicts)
    ]
    alerts = [SeriesAlert(alert_id=7, group_id=3, sha=f"{2:040x}", direction="regression", state="open",
                          change_pct=5.0, confidence=0.9)]
    return Series(repository=Repository(full_name="a/b", clone_url=""), benchmark=bench, host=Host(name="h"),
                  branch="main", points=points, baseline=baseline, baseline_points=points[:2], alerts=alerts)


def test_series_figure_is_a_valid_plotly_figure_with_marks() -> None:
    figure = series_figure(_series(["no_change", None, "regression", "suspect"]), lambda sha: f"/commit/{sha}")
    go.Figure(figure)  # plotly's own validator: raises on any unknown or malformed property
    names = [trace["name"] for trace in figure["data"]]
    assert names == ["optlib", "eager (baseline)", "change points"]
    marks = figure["data"][2]
    assert marks["x"] == [f"{2:040x}"[:8], f"{3:040x}"[:8]]
    assert marks["marker"]["color"] == [STYLES["regression"][1], STYLES["suspect"][1]]
    assert figure["data"][0]["error_y"]["array"] == [1.0] * 4
    assert figure["layout"]["shapes"][0]["x0"] == f"{2:040x}"[:8]
    assert figure["data"][0]["customdata"][0][0] == f"/commit/{0:040x}"


def test_series_figure_without_changes_has_no_change_trace() -> None:
    figure = series_figure(_series(["no_change", "no_change"]), lambda sha: sha)
    go.Figure(figure)
    assert "change points" not in [t["name"] for t in figure["data"]]


@pytest.mark.parametrize("value,text", [(None, ""), (25.0, "+25.0%"), (-3.14, "-3.1%"), (0.0, "+0.0%")])
def test_format_pct(value: float | None, text: str) -> None:
    assert format_pct(value) == text


def test_every_verdict_has_a_distinct_colour() -> None:
    from db.models import Verdict

    assert {v.value for v in Verdict} <= set(STYLES)
    assert len({colour for _, colour, _ in STYLES.values()}) == len(STYLES)


def _drifting_host_series(n: int, *, with_baseline: bool, step_at: int | None = None) -> Series:
    """optlib and its eager baseline measured in the same jobs on a host whose speed wanders
    by 5 % from job to job; their ratio moves only by 0.3 %."""
    rng = np.random.default_rng(3)
    host = 1.0 + rng.normal(0.0, 0.05, n)
    ratio = 1.0 + rng.normal(0.0, 0.003, n)
    if step_at is not None:
        ratio[step_at:] *= 1.10
    def point(i: int, level: float, verdict: str | None = None) -> SeriesPoint:
        samples = [level * f for f in (0.999, 1.0, 1.001)]
        return SeriesPoint(commit_id=i, sha=f"{i:040x}", title="", committed_at=None, samples=samples,
                           median=level, verdict=verdict, change_pct=None, confidence=None)
    points = [point(i, 10.0 * host[i] * ratio[i], "regression" if i == step_at else "no_change") for i in range(n)]
    base = _series([])
    return dataclasses.replace(base, points=points,
                               baseline=base.baseline if with_baseline else None,
                               baseline_points=[point(i, 20.0 * host[i]) for i in range(n)] if with_baseline else [])


def test_smallest_detectable_change_follows_the_ratio_to_the_same_jobs_baseline() -> None:
    """A host whose speed wanders by 5 % hides a 5 % change from the series alone; against the
    baseline measured in the same jobs the detector sees steps of about a percent."""
    alone = detectable_change_pct(_drifting_host_series(60, with_baseline=False)).fast
    controlled = detectable_change_pct(_drifting_host_series(60, with_baseline=True)).fast
    assert alone is not None and controlled is not None
    assert alone > 5.0
    assert controlled < 1.5


def test_smallest_detectable_change_needs_a_few_points_and_restarts_at_a_confirmed_change() -> None:
    assert detectable_change_pct(_drifting_host_series(2, with_baseline=True)).fast is None
    # Two points after a confirmed 10 % step: too few to measure the new segment's noise.
    assert detectable_change_pct(_drifting_host_series(40, with_baseline=True, step_at=38)).fast is None
    assert detectable_change_pct(_drifting_host_series(60, with_baseline=True, step_at=38)).fast is not None
