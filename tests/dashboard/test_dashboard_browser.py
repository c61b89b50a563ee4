"""The HUD in a real browser (Debian's chromium through Playwright).

Loads the HUD over a store seeded with a known regression, finds its red cell, clicks it, and
checks that the series chart is drawn with the change point marked. Each run saves a screenshot
in the test's directory and refreshes the one the README shows (docs/hud.png).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.dashboard.seed_data import FAILED_COMMIT, IMPROVEMENT_COMMIT, QUEUED_COMMIT, REGRESSION_COMMIT, SUSPECT_COMMIT, Seed

CHROMIUM = Path("/usr/bin/chromium")
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "hud.png"
MAX_SCREENSHOT_BYTES = 500 * 1024

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: apt-get install chromium (Debian's package) to run browser tests"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def page():  # type: ignore[no-untyped-def]
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def test_red_cell_opens_series_with_change_point(page, served: str, seeded: Seed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(served + "/")
    page.wait_for_selector('#hud[data-ready="1"]')
    red = page.locator(f'tr[data-sha="{seeded.sha(REGRESSION_COMMIT)}"] td.v-reg')
    assert red.count() == 1
    assert red.inner_text().strip() == "+25.0%"
    assert red.get_attribute("title") == "12.5 ms · confidence 99%"
    _check_drawn_cells(page, seeded)
    # the commit message holding <script> is shown as text, and its script never ran
    assert page.evaluate("window.pwned") is None
    assert page.get_by_text("<script>window.pwned=1</script> speed up conv").count() == 1
    page.screenshot(path=str(tmp_path / "hud.png"))
    _save_docs_screenshot(page, tmp_path)

    red.click()
    page.wait_for_url("**/series?**")
    page.wait_for_selector('#series-chart[data-ready="1"]', timeout=15_000)
    traces = page.evaluate("document.getElementById('series-chart').data.map(t => [t.name, t.x])")
    names = [name for name, _ in traces]
    assert "change points" in names and "eager (baseline)" in names
    change_x = dict(traces)["change points"]
    assert change_x == [seeded.sha(REGRESSION_COMMIT)[:8]]
    assert page.locator(".legendtext", has_text="change points").count() == 1
    assert page.locator(".annotation-text", has_text="alert").count() == 1
    assert page.locator("#detectable").is_visible()
    page.screenshot(path=str(tmp_path / "series.png"))
    assert not errors, errors


def _check_drawn_cells(page, seeded: Seed) -> None:  # type: ignore[no-untyped-def]
    """Every colour the script draws from the packed rows: one cell per benchmark column."""

    def classes(n: int) -> list[str]:
        return page.eval_on_selector_all(f'tr[data-sha="{seeded.sha(n)}"] td[class^="v-"]', "cells => cells.map(c => c.className)")

    assert sorted(classes(IMPROVEMENT_COMMIT)) == ["v-imp", "v-ok", "v-ok"]
    assert sorted(classes(SUSPECT_COMMIT)) == ["v-ok", "v-ok", "v-sus"]
    assert classes(1) == ["v-ok", "v-ok", "v-ok"]
    assert classes(FAILED_COMMIT) == ["v-fail"] * 3
    assert classes(QUEUED_COMMIT) == ["v-pend"] * 3
    improvement = page.locator(f'tr[data-sha="{seeded.sha(IMPROVEMENT_COMMIT)}"] td.v-imp')
    assert improvement.inner_text().strip() == "-12.0%"


def _save_docs_screenshot(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The README's picture of the HUD: PNG, kept under the size a README should carry."""
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shot = tmp_path / "hud-docs.png"
    page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 1100, "height": 620})
    data = shot.read_bytes()
    assert len(data) < MAX_SCREENSHOT_BYTES, f"screenshot is {len(data)} bytes"
    DOCS_SCREENSHOT.write_bytes(data)
