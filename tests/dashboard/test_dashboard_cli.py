"""``perfhud web`` and the WSGI module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from dashboard.commands import web

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_web_help_lists_host_and_port() -> None:
    result = CliRunner().invoke(web, ["--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output


def test_web_rejects_a_bad_port() -> None:
    result = CliRunner().invoke(web, ["--port", "70000"])
    assert result.exit_code == 2
    assert "70000" in result.output


def test_wsgi_app_builds_from_the_environment(tmp_path: Path) -> None:
    env = {"PERFHUD_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    code = "from dashboard.wsgi import app; print(sorted(app.blueprints))"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "['alerts', 'api', 'assets', 'commits', 'health', 'hosts', 'hud', 'series', 'webhooks']" in out.stdout


def test_wsgi_stops_on_a_bad_setting(tmp_path: Path) -> None:
    env = {"PERFHUD_DATA_DIR": str(tmp_path), "PERFHUD_WEBHOOK_SECRET": "short", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", "import dashboard.wsgi"], env=env, cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "PERFHUD_WEBHOOK_SECRET" in out.stderr
