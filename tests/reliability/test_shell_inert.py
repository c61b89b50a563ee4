"""No payload string reaches a shell: refs, branch names, repository names and clone URLs full
of shell syntax are refused or stay inert data, through the real webhook and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from dashboard import create_app
from dashboard.github import signature_for
from db.models import Push, Repository
from db.session import make_engine, make_session_factory, session_scope

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github-webhooks"
SECRET = "inert-secret-0123456789abcdef"


def payloads(canary: Path) -> list[str]:
    """Each a would-be command that creates ``canary`` if any shell ever ran it."""
    c = str(canary)
    return [f"x;touch {c}", f"x|touch {c}", f"$(touch {c})", f"`touch {c}`", f"x && touch {c}", f"x\ntouch {c}"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_webhook_refs_and_messages_stay_data(make_settings, session_factory, tmp_path: Path) -> None:
    canary = tmp_path / "PWNED"
    settings = make_settings(PERFHUD_WEBHOOK_SECRET=SECRET, PERFHUD_BROKER_URL="redis://127.0.0.1:1/0")
    with session_scope(session_factory) as s:
        s.add(Repository(full_name="codertocat/hello-world", clone_url="https://github.com/Codertocat/Hello-World.git"))
    client = create_app(settings).test_client()
    template = json.loads((FIXTURES / "push.with-new-branch.json").read_text())
    for i, evil in enumerate(payloads(canary)):
        body = dict(template, ref=f"refs/heads/{evil}", after=f"{i + 1:040x}")
        body["commits"] = [dict(template["commits"][0], id=f"{i + 1:040x}", message=evil)]
        body["head_commit"] = body["commits"][0]
        raw = json.dumps(body).encode()
        response = client.post("/webhooks/github", data=raw, headers={
            "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
            "Content-Type": "application/json", "X-Hub-Signature-256": signature_for(SECRET, raw)})
        assert response.status_code in (200, 202, 400), response.get_data(as_text=True)
    evil_repo = dict(template, repository=dict(template["repository"], full_name=f"acme/x;touch {canary}"))
    raw = json.dumps(evil_repo).encode()
    response = client.post("/webhooks/github", data=raw, headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
        "Content-Type": "application/json", "X-Hub-Signature-256": signature_for(SECRET, raw)})
    assert response.status_code in (400, 403)
    with session_scope(session_factory) as s:
        branches = list(s.scalars(select(Push.branch)))
    assert all(b.startswith("x") or b.startswith("$(") or b.startswith("`") for b in branches)
    assert not canary.exists()


def _perfhud(args: list[str], tmp_path: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFHUD_")}
    env.update(PERFHUD_DATA_DIR=str(tmp_path / "data"), PERFHUD_DATABASE_URL=database_url)
    return subprocess.run([sys.executable, "-m", "perfhud.cli", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_refuses_shell_syntax_in_names_urls_and_branches(database_url: str, tmp_path: Path) -> None:
    from db.migrate import upgrade

    upgrade(database_url)
    canary = tmp_path / "PWNED"
    for evil in payloads(canary):
        name = _perfhud(["repo", "add", f"acme/{evil}", "--clone-url", "https://example.com/a.git"], tmp_path, database_url)
        assert name.returncode != 0 and "repository name" in name.stderr.lower() + name.stdout.lower(), name
        url = _perfhud(["repo", "add", "acme/ok", "--clone-url", f"https://example.com/{evil}"], tmp_path, database_url)
        assert url.returncode != 0 and "clone url" in url.stderr.lower() + url.stdout.lower(), url
    ok = _perfhud(["repo", "add", "acme/ok", "--clone-url", str(tmp_path / "nowhere")], tmp_path, database_url)
    assert ok.returncode == 0, ok.stderr
    for evil in payloads(canary):
        branch = _perfhud(["backfill", "acme/ok", "--last", "1", "--branch", evil], tmp_path, database_url)
        assert branch.returncode != 0 and "ref" in branch.stderr.lower() + branch.stdout.lower(), branch
    assert not canary.exists()
    with session_scope(make_session_factory(make_engine(database_url))) as s:
        assert list(s.scalars(select(Repository.full_name))) == ["acme/ok"]
