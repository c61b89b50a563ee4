"""The JSON API over the seeded store: reads, token-guarded writes, errors, the OpenAPI document."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Alert, AlertGroup, Job, JobStatus, Result, Verdict
from tests.dashboard.seed_data import (
    EVIL_MESSAGE, FAILED_COMMIT, QUEUED_COMMIT, REGRESSION_COMMIT, REPO, Seed, auth,
)

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_hud_json_matches_the_page(client: FlaskClient, seeded: Seed) -> None:
    data = client.get("/api/v1/hud?per_page=20").get_json()
    assert (data["repository"], data["branch"], data["host"], data["total"]) == (REPO, "main", "host-a", 12)
    by_sha = {row["sha"]: row for row in data["commits"]}
    column = [c["benchmark_id"] for c in data["columns"]].index(seeded.benchmarks["resnet50-optlib"])
    assert data["cell_fields"] == ["status", "change_pct", "median", "confidence"]
    status, change, median, confidence = by_sha[seeded.sha(REGRESSION_COMMIT)]["cells"][column]
    assert (status, change, median, confidence) == ("regression", 25.0, 12.5, 0.99)
    assert by_sha[seeded.sha(QUEUED_COMMIT)]["cells"][column] == ["pending"]
    assert by_sha[seeded.sha(FAILED_COMMIT)]["cells"][column] == ["failed"]
    assert by_sha[seeded.sha(3)]["title"] == EVIL_MESSAGE.split("\n")[0]


def test_series_json(client: FlaskClient, seeded: Seed) -> None:
    bench = seeded.benchmarks["resnet50-optlib"]
    data = client.get(f"/api/v1/series?benchmark={bench}&host=host-a").get_json()
    assert len(data["points"]) == 10  # commits 11 (failed) and 12 (queued) have no result
    assert [p["sha"] for p in data["points"]][0] == seeded.sha(1)
    assert data["baseline"]["variant"] == "eager" and len(data["baseline_points"]) == 10
    assert data["alerts"][0]["sha"] == seeded.sha(REGRESSION_COMMIT)
    assert len(data["points"][0]["samples"]) == 5
    # Measured since the confirmed regression at commit 8: three points are enough to say.
    assert data["min_detectable_change_pct"] is not None and data["min_detectable_change_pct"] > 0
    # the slow lane, with more commits at the new level, confirms smaller steps
    assert 0 < data["min_detectable_change_slow_pct"] < data["min_detectable_change_pct"]
    limited = client.get(f"/api/v1/series?benchmark={bench}&limit=3").get_json()
    assert [p["sha"] for p in limited["points"]] == [seeded.sha(8), seeded.sha(9), seeded.sha(10)]


def test_commit_json_against_parent(client: FlaskClient, seeded: Seed) -> None:
    data = client.get(f"/api/v1/commits/{seeded.sha(REGRESSION_COMMIT)[:10]}").get_json()
    assert data["base"]["sha"] == seeded.sha(REGRESSION_COMMIT - 1)
    row = next(r for r in data["results"] if r["benchmark"]["variant"] == "optlib" and r["benchmark"]["model"] == "resnet50")
    assert row["ratio"] == pytest.approx(1.25) and row["significant"] is True
    assert "git checkout" in row["reproduce"]
    assert data["jobs"][0]["status"] == "succeeded" and data["hosts"][0]["name"] == "host-a"


def test_compare_alerts_hosts_jobs_json(client: FlaskClient, seeded: Seed) -> None:
    cmp = client.get(f"/api/v1/compare?base={seeded.sha(2)}&head={seeded.sha(9)}").get_json()
    assert cmp["base"]["sha"] == seeded.sha(2) and len(cmp["results"]) == 3
    groups = client.get("/api/v1/alert-groups").get_json()
    assert groups["total"] == 1 and groups["groups"][0]["alerts"][0]["host"] == "host-a"
    one = client.get(f"/api/v1/alert-groups/{seeded.alert_group_id}").get_json()
    assert one["suspect_sha"] == seeded.sha(REGRESSION_COMMIT)
    hosts = client.get("/api/v1/hosts").get_json()["hosts"]
    assert [h["name"] for h in hosts] == ["host-a", "host-b"] and hosts[0]["shared_queue_depth"] == 1
    job = client.get(f"/api/v1/jobs/{seeded.failed_job_id}").get_json()
    assert job["status"] == "failed" and "signal 9" in job["error"]
    assert client.get("/api/v1/repositories").get_json()["repositories"][0]["full_name"] == REPO
    assert client.get("/api/v1/benchmarks?per_page=2").get_json()["total"] == 3


@sqlite_only
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic abc"}])
def test_writes_need_a_valid_token(client: FlaskClient, seeded: Seed, headers: dict[str, str]) -> None:
    for method, path in [("patch", f"/api/v1/alert-groups/{seeded.alert_group_id}"),
                         ("patch", f"/api/v1/alerts/{seeded.alert_id}"),
                         ("post", f"/api/v1/jobs/{seeded.succeeded_job_id}/rerun")]:
        response = getattr(client, method)(path, json={"state": "confirmed"}, headers=headers)
        assert response.status_code == 401, path
        assert "Bearer" in response.get_json()["error"] or "not valid" in response.get_json()["error"]


def test_triage_group_updates_group_and_its_alerts(
    client: FlaskClient, seeded: Seed, session_factory: sessionmaker[Session]
) -> None:
    response = client.patch(f"/api/v1/alert-groups/{seeded.alert_group_id}", headers=auth(),
                            json={"state": "acknowledged", "assignee": "ada", "notes": "looking <b>now</b>"})
    assert response.status_code == 200, response.get_json()
    with session_factory() as session:
        group = session.get(AlertGroup, seeded.alert_group_id)
        alert = session.get(Alert, seeded.alert_id)
        assert (group.state.value, group.assignee, group.notes) == ("acknowledged", "ada", "looking <b>now</b>")
        assert (alert.state.value, alert.assignee) == ("acknowledged", "ada")
        assert alert.updated_by and alert.updated_by.startswith("token:")
    page = client.get("/alerts").get_data(as_text=True)
    assert "looking &lt;b&gt;now&lt;/b&gt;" in page


@sqlite_only
@pytest.mark.parametrize("body,fragment", [
    ({"state": "bogus"}, "allowed: open, confirmed"),
    ({"colour": "red"}, "unknown field"),
    ({}, "nothing to change"),
    ({"assignee": 5}, "must be a string"),
    ({"notes": "x" * 10_001}, "longer than"),
])
def test_triage_rejects_bad_bodies(client: FlaskClient, seeded: Seed, body: dict, fragment: str) -> None:
    response = client.patch(f"/api/v1/alert-groups/{seeded.alert_group_id}", headers=auth(), json=body)
    assert response.status_code == 400
    assert fragment in response.get_json()["error"]


@sqlite_only
def test_triage_single_alert_and_missing_ids(client: FlaskClient, seeded: Seed) -> None:
    ok = client.patch(f"/api/v1/alerts/{seeded.alert_id}", headers=auth(), json={"state": "invalid"})
    assert ok.status_code == 200 and ok.get_json()["state"] == "invalid"
    assert client.patch("/api/v1/alerts/999999", headers=auth(), json={"state": "invalid"}).status_code == 404
    missing = client.patch("/api/v1/alert-groups/999999", headers=auth(), json={"state": "fixed"})
    assert missing.status_code == 404 and "999999" in missing.get_json()["error"]


def test_rerun_queues_a_copy_and_refuses_unfinished_jobs(
    client: FlaskClient, seeded: Seed, session_factory: sessionmaker[Session]
) -> None:
    response = client.post(f"/api/v1/jobs/{seeded.failed_job_id}/rerun", headers=auth())
    assert response.status_code == 201
    new_id = response.get_json()["job"]
    with session_factory() as session:
        new, old = session.get(Job, new_id), session.get(Job, seeded.failed_job_id)
        assert new.status == JobStatus.QUEUED and new.commit_id == old.commit_id and new.suite == old.suite
        assert new.params["rerun_of"] == old.id and new.dedup_key is None
        queued = session.scalars(select(Job).where(Job.commit_id == seeded.commit_ids[QUEUED_COMMIT - 1])).one()
    busy = client.post(f"/api/v1/jobs/{queued.id}/rerun", headers=auth())
    assert busy.status_code == 409 and "queued" in busy.get_json()["error"]
    assert client.post("/api/v1/jobs/999999/rerun", headers=auth()).status_code == 404


@sqlite_only
@pytest.mark.parametrize("path,status", [
    ("/api/v1/nothing-here", 404),
    ("/api/v1/series", 400),
    ("/api/v1/hud?page=abc", 400),
    ("/api/v1/commits/abc", 404),
    ("/api/v1/jobs/99999999999", 404),
    ("/api/v1/alert-groups?state=nope", 400),
])
def test_api_errors_are_json_with_a_message(client: FlaskClient, seeded: Seed, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    body = response.get_json()
    assert body["status"] == status and body["error"]


@sqlite_only
def test_openapi_document_describes_every_api_route(app: Flask, client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule.endswith("openapi.json"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        path = re.sub(r"\{[^(}]+\(max=\d+\):", "{", path)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, f"{method} {path} is not in the OpenAPI document"


def results_file(samples: list[float] | str = "default") -> dict:
    values = [9.8, 10.0, 10.1, 10.3] if samples == "default" else samples
    return {
        "name": "perfhud", "version": 1,
        "environ": {"cpu_model": "Runner CPU", "torch_version": "2.13.0"},
        "metrics": {"resnet50-eval-fp32-optlib_latency_p50": 10.0},
        "results": [{"model": "resnet50", "mode": "eval", "precision": "fp32", "variant": "optlib",
                     "family": "cnn", "metric": "latency_p50", "unit": "ms", "direction": "lower",
                     "samples": values, "primary": True}],
    }


def test_results_upload_stores_a_finished_job(
    client: FlaskClient, seeded: Seed, session_factory: sessionmaker[Session]
) -> None:
    sha = seeded.sha(QUEUED_COMMIT)
    response = client.post(f"/api/v1/results?repository={REPO}&sha={sha}&host=runner-1", headers=auth(),
                           json=results_file())
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["results"] == 1
    data = client.get(f"/api/v1/commits/{sha}").get_json()
    row = next(r for r in data["results"] if r["host"] == "runner-1")
    assert row["median"] == pytest.approx(10.05) and row["samples"] == [9.8, 10.0, 10.1, 10.3]
    with session_factory() as session:
        job = session.get(Job, response.get_json()["job"])
        assert job.status == JobStatus.SUCCEEDED and job.host_id is not None


@sqlite_only
@pytest.mark.parametrize("body,status,fragment", [
    (b"{not json", 400, "file"),
    (b'{"name": "x", "environ": {}, "metrics": {}, "results": [{"model": "m"}]}', 400, "results[0]"),
    ("negative", 400, "samples[1]"),
    ("nan", 400, "samples[0]"),
])
def test_results_upload_rejects_bad_files_and_stores_nothing(
    client: FlaskClient, seeded: Seed, session_factory: sessionmaker[Session], body, status: int, fragment: str
) -> None:
    import json

    if body == "negative":
        body = json.dumps(results_file([1.0, -2.0])).encode()
    elif body == "nan":
        body = json.dumps(results_file([float("nan"), 1.0])).encode()
    with session_factory() as session:
        jobs_before = len(session.scalars(select(Job)).all())
    response = client.post(f"/api/v1/results?repository={REPO}&sha={seeded.sha(1)}&host=runner-1",
                           headers={**auth(), "Content-Type": "application/json"}, data=body)
    assert response.status_code == status
    assert fragment in response.get_json()["error"]
    with session_factory() as session:
        assert len(session.scalars(select(Job)).all()) == jobs_before


@sqlite_only
def test_results_upload_needs_token_and_known_commit(client: FlaskClient, seeded: Seed) -> None:
    url = f"/api/v1/results?repository={REPO}&sha={'f' * 40}&host=runner-1"
    assert client.post(url, json=results_file()).status_code == 401
    unknown = client.post(url, json=results_file(), headers=auth())
    assert unknown.status_code == 404 and "push it first" in unknown.get_json()["error"]
    bad_sha = client.post(f"/api/v1/results?repository={REPO}&sha=abc&host=h", json=results_file(), headers=auth())
    assert bad_sha.status_code == 400


def _more_commits(session_factory: sessionmaker[Session], seeded: Seed, count: int) -> list[str]:
    """``count`` further commits on main after the seeded ones (a series long enough for the
    detector's warm-up), oldest first."""
    from datetime import UTC, datetime, timedelta

    from db.ingest import CommitInfo, record_push
    from db.models import Repository

    shas = [f"{0xabc000 + i:040x}" for i in range(count)]
    with session_factory() as session:
        repository = session.get(Repository, seeded.repository_id)
        infos = [CommitInfo(sha=sha, parents=(shas[i - 1] if i else seeded.sha(len(seeded.shas)),),
                            committed_at=datetime(2026, 2, 1, tzinfo=UTC) + timedelta(hours=i))
                 for i, sha in enumerate(shas)]
        record_push(session, repository, branch="main", commits=infos, source="backfill", suites=[])
        session.commit()
    return shas


@sqlite_only
def test_results_upload_runs_change_detection_on_the_uploaded_series(
    client: FlaskClient, seeded: Seed, session_factory: sessionmaker[Session]
) -> None:
    """Uploads from one runner form their own series; after each upload the worker's change
    detection gives the new point a verdict, and a step of 30 % after a steady history is not
    called "no change"."""
    shas = _more_commits(session_factory, seeded, 30)
    steady = [10.0, 10.05, 9.95, 10.02, 9.98, 10.01, 9.99, 10.03]
    jobs = []
    for n, sha in enumerate(shas):
        samples = [round(v * (1.3 if n == len(shas) - 1 else 1.0), 4) for v in steady]
        response = client.post(f"/api/v1/results?repository={REPO}&sha={sha}&host=runner-2",
                               headers=auth(), json=results_file(samples))
        assert response.status_code == 201, response.get_json()
        assert set(response.get_json()) == {"job", "results"}
        jobs.append(response.get_json()["job"])
    with session_factory() as session:
        verdicts = [session.scalars(select(Result.verdict).where(Result.job_id == j)).one() for j in jobs]
    assert all(v is not None for v in verdicts), verdicts  # detection spoke on every uploaded point
    assert set(verdicts[:-1]) == {Verdict.NO_CHANGE}
    assert verdicts[-1] in (Verdict.SUSPECT, Verdict.REGRESSION), verdicts
