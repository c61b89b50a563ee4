"""The series page: one benchmark on one host over a branch's commits, as a Plotly chart."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from flask import Blueprint, render_template, url_for

from dashboard.errors import ApiError
from dashboard.figures import series_figure
from dashboard.params import int_arg, text_arg
from dashboard.store import get_session
from db.models import Benchmark
from db.queries.common import resolve_host, resolve_repository
from db.queries.series import DEFAULT_POINTS, Series, load_series
from db.results import detectable
from worker.detection import DETECTOR_CONFIG, Point, min_detectable_changes

bp = Blueprint("series", __name__)

MAX_POINTS = 5000


def load_series_for_request() -> Series:
    session = get_session()
    repo_name = text_arg("repository")
    repository = resolve_repository(session, repo_name)
    if repository is None:
        raise ApiError(404, f"repository {repo_name!r} is not registered" if repo_name else "no repository is registered")
    benchmark_id = int_arg("benchmark")
    if benchmark_id is None:
        raise ApiError(400, "parameter 'benchmark' (a benchmark id) is required")
    benchmark = session.get(Benchmark, benchmark_id)
    if benchmark is None:
        raise ApiError(404, f"benchmark {benchmark_id} does not exist")
    host_name = text_arg("host")
    host = resolve_host(session, host_name)
    if host is None:
        raise ApiError(404, f"host {host_name!r} is not known" if host_name else "no host is registered")
    limit = int_arg("limit", DEFAULT_POINTS, maximum=MAX_POINTS)
    assert limit is not None
    return load_series(session, repository, benchmark, host, branch=text_arg("branch"), limit=limit)


class DetectableChange(NamedTuple):
    """Smallest steps, in percent, that change detection confirms on a series: within the
    detector's `max_lag` commits, and within its slow lane's `slow_max_lag` (None while the
    series is too short to say)."""

    fast: float | None
    slow: float | None


def detectable_change_pct(series: Series) -> DetectableChange:
    """The smallest steps change detection confirms on this series from its own noise as it
    stands now: what an engineer asks of a green row. Measured as the detector measures it,
    on the ratio to the same job's baseline where every point has one, and since the
    series' last confirmed change."""
    baseline = {p.commit_id: p.samples for p in series.baseline_points if detectable(p.samples)}
    with_baseline = series.baseline is not None and all(p.commit_id in baseline for p in series.points)
    points = [Point(p.sha, p.samples, baseline[p.commit_id] if with_baseline else None)
              for p in series.points if detectable(p.samples)]
    changes = [p.sha for p in series.points if p.verdict in ("regression", "improvement")]
    smallest = min_detectable_changes(points, lags=(DETECTOR_CONFIG.max_lag, DETECTOR_CONFIG.slow_max_lag),
                                      config=DETECTOR_CONFIG, changes=changes)
    return DetectableChange(*(None if math.isinf(pct) else pct for pct in smallest))


def commit_link(repository: str) -> Callable[[str], str]:
    """A commit URL maker built from one ``url_for``: a chart has thousands of points."""
    marker = "0" * 40
    template = url_for("commits.commit_page", sha=marker, repository=repository)
    prefix, suffix = template.split(marker, 1)
    return lambda sha: prefix + sha + suffix


@bp.get("/series")
def series_page():  # type: ignore[no-untyped-def]
    series = load_series_for_request()
    figure = series_figure(series, commit_link(series.repository.full_name))
    return render_template("series.html", series=series, figure=figure, detectable=detectable_change_pct(series),
                           max_lag=DETECTOR_CONFIG.max_lag, slow_max_lag=DETECTOR_CONFIG.slow_max_lag)
