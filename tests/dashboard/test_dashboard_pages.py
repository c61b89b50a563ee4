"""Every page over the seeded store, on SQLite and PostgreSQL: what it shows and what it escapes."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from tests.dashboard.seed_data import (
    FAILED_COMMIT, IMPROVEMENT_COMMIT, N_COMMITS, QUEUED_COMMIT, REGRESSION_COMMIT, REPO, SUSPECT_COMMIT, Seed,
)


def hud_row(html: str, sha: str) -> str:
    match = re.search(rf'<tr data-sha="{sha}">(.*?)</tr>', html, re.S)
    assert match, f"no HUD row for {sha}"
    return match.group(1)


def test_hud_colours_every_verdict_and_job_state(client: FlaskClient, seeded: Seed) -> None:
    html = client.get("/").get_data(as_text=True)
    assert html.count("<tr data-sha=") == N_COMMITS
    # newest first
    assert html.index(seeded.sha(N_COMMITS)) < html.index(seeded.sha(1))
    assert 'class="v-reg"' in hud_row(html, seeded.sha(REGRESSION_COMMIT))
    assert "+25.0%" in hud_row(html, seeded.sha(REGRESSION_COMMIT))
    assert 'class="v-imp"' in hud_row(html, seeded.sha(IMPROVEMENT_COMMIT))
    assert 'class="v-sus"' in hud_row(html, seeded.sha(SUSPECT_COMMIT))
    assert 'class="v-ok"' in hud_row(html, seeded.sha(1))
    assert hud_row(html, seeded.sha(FAILED_COMMIT)).count('class="v-fail"') == 3
    assert hud_row(html, seeded.sha(QUEUED_COMMIT)).count('class="v-pend"') == 3
    assert "v-reg" not in hud_row(html, seeded.sha(1))


def test_hud_hover_shows_value_and_confidence(client: FlaskClient, seeded: Seed) -> None:
    row = hud_row(client.get("/").get_data(as_text=True), seeded.sha(REGRESSION_COMMIT))
    assert re.search(r'class="v-reg" title="12\.5 ms · confidence 99%">\+25\.0%</td>', row)


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
    assert 'class="v-reg"' not in html
    # the queued job may run on any host: grey on host-b as well
    assert hud_row(html, seeded.sha(QUEUED_COMMIT)).count('class="v-pend"') == 3
    assert 'class="v-fail"' not in html  # the failed job ran on host-a


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
