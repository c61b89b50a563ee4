"""Read routes of the API."""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import func, select

from dashboard.alerts import load_alerts_page
from dashboard.api import bp, serialize
from dashboard.commits import load_commit_page, load_compare_page
from dashboard.errors import ApiError
from dashboard.hud import load_hud_page
from dashboard.params import page_arg
from dashboard.series import load_series_for_request
from dashboard.store import get_session
from db.models import Benchmark, Job
from db.queries.alerts import list_alert_groups
from db.queries.common import list_repositories
from db.queries.compare import commit_jobs
from db.queries.hosts import list_hosts


@bp.get("/repositories")
def repositories():  # type: ignore[no-untyped-def]
    return jsonify(repositories=[serialize.repository(r) for r in list_repositories(get_session())])


@bp.get("/benchmarks")
def benchmarks():  # type: ignore[no-untyped-def]
    session = get_session()
    page = page_arg(100)
    total = session.scalar(select(func.count()).select_from(Benchmark)) or 0
    rows = session.scalars(
        select(Benchmark).order_by(Benchmark.family, Benchmark.model, Benchmark.mode, Benchmark.precision,
                                   Benchmark.variant, Benchmark.metric, Benchmark.id)
        .offset(page.offset).limit(page.size)
    )
    return jsonify(benchmarks=[serialize.benchmark(b) for b in rows], **serialize.page_info(page, total))


@bp.get("/hud")
def hud():  # type: ignore[no-untyped-def]
    page = load_hud_page()
    if page is None:
        raise ApiError(404, "nothing to show yet: register a repository and a host first")
    return jsonify(serialize.hud(page))


@bp.get("/series")
def series():  # type: ignore[no-untyped-def]
    return jsonify(serialize.series(load_series_for_request()))


@bp.get("/commits/<sha>")
def commit(sha: str):  # type: ignore[no-untyped-def]
    return jsonify(serialize.comparison(load_commit_page(sha)))


@bp.get("/compare")
def compare():  # type: ignore[no-untyped-def]
    return jsonify(serialize.comparison(load_compare_page()))


@bp.get("/alert-groups")
def alert_groups():  # type: ignore[no-untyped-def]
    return jsonify(serialize.alerts(load_alerts_page()))


@bp.get("/alert-groups/<int(max=2147483647):group_id>")
def alert_group(group_id: int):  # type: ignore[no-untyped-def]
    groups, _ = list_alert_groups(get_session(), group_id=group_id)
    if not groups:
        raise ApiError(404, f"alert group {group_id} does not exist")
    return jsonify(serialize.alert_group(groups[0]))


@bp.get("/hosts")
def hosts():  # type: ignore[no-untyped-def]
    return jsonify(hosts=[serialize.host_view(h) for h in list_hosts(get_session())])


@bp.get("/jobs/<int(max=2147483647):job_id>")
def job(job_id: int):  # type: ignore[no-untyped-def]
    session = get_session()
    found = session.get(Job, job_id)
    if found is None:
        raise ApiError(404, f"job {job_id} does not exist")
    view = next(j for j in commit_jobs(session, found.commit_id) if j.id == job_id)
    return jsonify({**serialize.job(view), "commit": found.commit.sha, "repository": found.commit.repository.full_name})


