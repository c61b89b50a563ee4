"""Commit statuses through GitHub's statuses API, against a local server standing in for GitHub."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from perfhud.settings import load_settings
from worker.github_status import post_status

SHA = "c" * 40


@pytest.fixture
def fake_github():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        status_code = 201

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "auth": self.headers["Authorization"], "body": json.loads(body)})
            self.send_response(Handler.status_code)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received, Handler
    finally:
        server.shutdown()
        server.server_close()


def _settings(tmp_path, api: str, token: str | None = "t0ken"):
    env = {"PERFHUD_DATA_DIR": str(tmp_path), "PERFHUD_GITHUB_API_URL": api,
           "PERFHUD_PUBLIC_URL": "https://perf.example.com"}
    if token:
        env["PERFHUD_GITHUB_TOKEN"] = token
    return load_settings(env)


@pytest.mark.parametrize("state", ["pending", "success", "failure"])
def test_status_posted_with_link(tmp_path, fake_github, state: str) -> None:
    api, received, _ = fake_github
    assert post_status(_settings(tmp_path, api), "acme/tiny", SHA, state)
    (request,) = received
    assert request["path"] == f"/repos/acme/tiny/statuses/{SHA}"
    assert request["auth"] == "Bearer t0ken"
    assert request["body"]["state"] == state and request["body"]["context"] == "perfhud"
    assert request["body"]["target_url"] == f"https://perf.example.com/commit/{SHA}?repository=acme%2Ftiny"


def test_no_token_no_request(tmp_path, fake_github) -> None:
    api, received, _ = fake_github
    assert not post_status(_settings(tmp_path, api, token=None), "acme/tiny", SHA, "success")
    assert received == []


def test_github_refusing_is_logged_not_raised(tmp_path, fake_github) -> None:
    api, received, handler = fake_github
    handler.status_code = 500
    assert not post_status(_settings(tmp_path, api), "acme/tiny", SHA, "failure")
    assert len(received) == 1


def test_unknown_state_is_a_programming_error(tmp_path, fake_github) -> None:
    with pytest.raises(ValueError, match="allowed: pending, success, failure, error"):
        post_status(_settings(tmp_path, fake_github[0]), "acme/tiny", SHA, "done")
