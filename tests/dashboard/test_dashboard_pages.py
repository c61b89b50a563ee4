"""Every page over the seeded store, on SQLite and PostgreSQL: what it shows and what it escapes."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from db.queries.hud import CELL_SEP, FIELD_SEP, PACKED_FIELDS
from tests.dashboard.seed_data import (
    FAILED_COMMIT, IMPROVEMENT_COMMIT, N_COMMITS, QUEUED_COMMIT, REGRESSION_COMMIT, REPO, SUSPECT_COMMIT, Seed,
)
from worker.detection import DETECTOR_CONFIG


def hud_row(html: str, sha: str) -> str:
    """The opening tag of the HUD row of ``sha`` (the row's cells travel in its attributes)."""
    match = re.search(rf'<tr data-sha="{sha}"[^>]*>', html)
    assert match, f"no HUD row for {sha}"
    return match.group(0)


def packed_cells(html: str, sha: str) -> dict[int, list[str]]:
    """The row's packed cells by benchmark id (the format db.queries.hud documents)."""
    match = re.search(r'data-cells="([^"]*)"', hud_row(html, sha))
    assert match is not None
    cells: dict[int, list[str]] = {}
    for text in filter(None, match.group(1).split(CELL_SEP)):
        fields = text.split(FIELD_SEP)
        assert len(fields) == len(PACKED_FIELDS), text
        cells[int(fields[0])] = fields
    return cells


def verdicts(html: str, sha: str) -> set[str]:
    return {fields[2] for fields in packed_cells(html, sha).values()}


def test_hud_rows_carry_every_verdict_and_job_state(client: FlaskClient, seeded: Seed) -> None:
    html = client.get("/").get_data(as_text=True)
    assert html.count("<tr data-sha=") == N_COMMITS
    # newest first
    assert html.index(seeded.sha(N_COMMITS)) < html.index(seeded.sha(1))
    assert verdicts(html, seeded.sha(REGRESSION_COMMIT)) == {"regression", "no_change"}
    assert verdicts(html, seeded.sha(IMPROVEMENT_COMMIT)) == {"improvement", "no_change"}
    assert verdicts(html, seeded.sha(SUSPECT_COMMIT)) == {"suspect", "no_change"}
    assert verdicts(html, seeded.sha(1)) == {"no_change"}
    assert len(packed_cells(html, seeded.sha(1))) == 3
    failed, queued = hud_row(html, seeded.sha(FAILED_COMMIT)), hud_row(html, seeded.sha(QUEUED_COMMIT))
    assert 'data-state="failed"' in failed and packed_cells(html, seeded.sha(FAILED_COMMIT)) == {}
    assert 'data-state="pending"' in queued and packed_cells(html, seeded.sha(QUEUED_COMMIT)) == {}
    assert "data-state" not in hud_row(html, seeded.sha(1))


def test_hud_cells_carry_change_value_and_confidence(client: FlaskClient, seeded: Seed) -> None:
    html = client.get("/").get_data(as_text=True)
    cell = packed_cells(html, seeded.sha(REGRESSION_COMMIT))[seeded.benchmarks["resnet50-optlib"]]
    _, result_id, verdict, change, median, confidence = cell
    assert int(result_id) > 0 and verdict == "regression"
    assert (float(change), float(median), float(confidence)) == (25.0, 12.5, 0.99)
    assert re.search(r'<th data-b="\d+" data-u="ms"', html)


def test_hud_cells_keep_the_newest_result_of_a_rerun(client: FlaskClient, seeded: Seed, session_factory) -> None:  # type: ignore[no-untyped-def]
    """A re-run on the same host adds a second result for the cell: the page carries both (the
    browser keeps the larger result id) and the API shows the newer one."""
    from db.models import Job, JobStatus, Result

    bench = seeded.benchmarks["resnet50-optlib"]
    with session_factory() as session:
        old = session.query(Result).filter_by(commit_id=seeded.commit_ids[0], benchmark_id=bench).one()
        rerun = Job(commit_id=old.commit_id, suite="ci", host_id=old.host_id, status=JobStatus.SUCCEEDED)
        session.add(rerun)
        session.flush()
        session.add(Result(job_id=rerun.id, benchmark_id=bench, repository_id=old.repository_id,
                           commit_id=old.commit_id, host_id=old.host_id, samples=[7.0], n=1, median=7.0, mean=7.0,
                           stdev=0.0, p90=7.0, p99=7.0))
        session.commit()
        old_id = old.id
    html = client.get("/").get_data(as_text=True)
    match = re.search(r'data-cells="([^"]*)"', hud_row(html, seeded.sha(1)))
    assert match is not None
    mine = [c.split(",") for c in match.group(1).split(";") if c.startswith(f"{bench},")]
    assert sorted(int(c[1]) for c in mine) == [old_id, max(int(c[1]) for c in mine)] and len(mine) == 2
    newest = max(mine, key=lambda c: int(c[1]))
    assert (newest[2], float(newest[4])) == ("", 7.0)  # no verdict yet
    data = client.get("/api/v1/hud").get_json()
    column = next(i for i, c in enumerate(data["columns"]) if c["benchmark_id"] == bench)
    row = next(r for r in data["commits"] if r["sha"] == seeded.sha(1))
    assert row["cells"][column] == ["measured", None, 7.0, None]


def test_hud_escapes_commit_messages(client: FlaskClient, seeded: Seed) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "<script>window.pwned" not in html
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html


def test_commit_page_escapes_message_and_shows_reproduction(client: FlaskClient, seeded: Seed) -> None:
    html = client.get(f"/commit/{seeded.sha(3)}?repository={REPO}").get_data(as_text=True)
    assert "<script>window.pwned" not in html and "<b>tags</b>" not in html
    assert "&lt;b&gt;tags&lt;/b&gt;" in html
    assert f"git checkout {seeded.sha(3)}" in html
    assert "taskset -c 2-7 python -m benchmarks run --model resnet50 --mode eval --precision fp32 --variant optlib" in html


@pytest.mark.parametrize("query,rows", [("variant=eager", 1), ("precision=bf16", 1), ("variant=optlib", 2), ("", 3)])
def test_hud_filters_columns(client: FlaskClient, seeded: Seed, query: str, rows: int) -> None:
    html = client.get(f"/?{query}").get_data(as_text=True)
    assert len(re.findall(r"<th data-b=", html)) == rows


def test_hud_other_host_has_no_results_but_shows_pending(client: FlaskClient, seeded: Seed) -> None:
    html = client.get("/?host=host-b").get_data(as_text=True)
    assert all(packed_cells(html, sha) == {} for sha in seeded.shas)
    # the queued job may run on any host: grey on host-b as well
    assert 'data-state="pending"' in hud_row(html, seeded.sha(QUEUED_COMMIT))
    assert 'data-state="failed"' not in html  # the failed job ran on host-a


def test_hud_paging(client: FlaskClient, seeded: Seed) -> None:
    first = client.get("/?per_page=5").get_data(as_text=True)
    third = client.get("/?per_page=5&page=3").get_data(as_text=True)
    assert first.count("<tr data-sha=") == 5 and third.count("<tr data-sha=") == 2
    assert seeded.sha(N_COMMITS) in first and seeded.sha(1) in third
    assert "page 3 of 3" in third


def test_series_page_marks_change_point_and_alert(client: FlaskClient, seeded: Seed) -> None:
    bench = seeded.benchmarks["resnet50-optlib"]
    html = client.get(f"/series?repository={REPO}&benchmark={bench}&host=host-a").get_data(as_text=True)
    assert '"name": "change points"' in html or '"name":"change points"' in html
    assert "eager (baseline)" in html
    assert f"alert {seeded.alert_id}: +25.0% (open)" in html
    data = client.get(f"/api/v1/series?benchmark={bench}&host=host-a").get_json()
    pct, slow = data["min_detectable_change_pct"], data["min_detectable_change_slow_pct"]
    assert 'id="detectable">Smallest change the stream confirms' in html
    fast_lag, slow_lag = DETECTOR_CONFIG.max_lag, DETECTOR_CONFIG.slow_max_lag
    assert f"within {fast_lag} commits,\n from its own noise: {pct:.1f} %; within {slow_lag} commits" in html
    assert f"{slow:.1f} %" in html
    assert "/vendor/plotly.min.js" in html
    assert "cdn" not in html.lower()


def test_compare_page_computes_ratio_and_significance(client: FlaskClient, seeded: Seed) -> None:
    html = client.get(f"/compare?repository={REPO}&base={seeded.sha(1)}&head={seeded.sha(9)}").get_data(as_text=True)
    assert "1.250" in html and "significant (p=" in html


def test_alerts_page_lists_group_with_triage_form(client: FlaskClient, seeded: Seed) -> None:
    html = client.get("/alerts").get_data(as_text=True)
    assert f'id="group-{seeded.alert_group_id}"' in html
    assert seeded.sha(REGRESSION_COMMIT)[:8] in html
    assert f"/api/v1/alert-groups/{seeded.alert_group_id}" in html
    assert "1 regression(s)" in html
    assert client.get("/alerts?state=fixed").get_data(as_text=True).count("alert-group state-") == 0


def test_hosts_page_shows_queue_depth_and_facts(client: FlaskClient, seeded: Seed) -> None:
    html = client.get("/hosts").get_data(as_text=True)
    assert "host-a" in html and "host-b" in html and "AMD EPYC 9R14" in html
    assert re.search(r"<td>idle</td>\s*<td>0</td><td>1</td>", html)  # one job queued for any host


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("path,status", [
    ("/?repository=nobody/nothing", 404),
    ("/?host=ghost", 404),
    ("/?page=0", 400),
    ("/?per_page=100000", 400),
    ("/series", 400),
    ("/series?benchmark=999999", 404),
    ("/series?benchmark=abc", 400),
    ("/commit/0000000", 404),
    ("/commit/zz", 404),
    ("/compare?base=abc", 400),
    ("/alerts?state=bogus", 400),
])
def test_bad_requests_get_an_error_page_naming_the_problem(client: FlaskClient, seeded: Seed, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert "<h1>Error" in response.get_data(as_text=True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_empty_store_explains_how_to_start(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "perfhud repo add" in response.get_data(as_text=True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_assets_are_served_locally(client: FlaskClient) -> None:
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and js.mimetype == "application/javascript"
    assert b"plotly" in js.data[:2000].lower()
    for name in ("style.css", "hud.js", "series.js", "alerts.js"):
        assert client.get(f"/static/{name}").status_code == 200
