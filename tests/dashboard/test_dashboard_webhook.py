"""POST /webhooks/github with GitHub's real payloads, signed here with the test secret."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.dashboard.seed_data import WEBHOOK_SECRET
from dashboard.github import signature_for
from db.models import Commit, Job, Push, Repository, WebhookDelivery

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github-webhooks"
PR_HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
NEW_BRANCH_HEAD = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"

# Most cases exercise the HTTP contract, not the store: they run on SQLite only. The ones that
# write (or must not write) deliveries, commits and jobs run on both backends: each has its own
# write path (one statement on PostgreSQL).
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def payload(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def deliver(client: FlaskClient, event: str, body: bytes, *, delivery: str | None = None,
            secret: str = WEBHOOK_SECRET, signature: str | None = None):  # type: ignore[no-untyped-def]
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "Content-Type": "application/json",
        "X-Hub-Signature-256": signature if signature is not None else signature_for(secret, body),
    }
    return client.post("/webhooks/github", data=body, headers=headers)


def register(factory: sessionmaker[Session], full_name: str = "Codertocat/Hello-World") -> None:
    with factory() as session:
        session.add(Repository(full_name=full_name.lower(), clone_url=f"https://github.com/{full_name}.git",
                               default_branch="master"))
        session.commit()


def counts(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as session:
        return {
            "jobs": session.scalar(select(func.count()).select_from(Job)),
            "commits": session.scalar(select(func.count()).select_from(Commit)),
            "pushes": session.scalar(select(func.count()).select_from(Push)),
            "deliveries": session.scalar(select(func.count()).select_from(WebhookDelivery)),
        }


def test_signature_matches_githubs_published_vector() -> None:
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_for("It's a Secret to Everybody", b"Hello, World!") == expected


@sqlite_only
def test_missing_signature_is_400(client: FlaskClient, session_factory) -> None:  # type: ignore[no-untyped-def]
    register(session_factory)
    response = client.post("/webhooks/github", data=payload("push.with-new-branch.json"),
                           headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1"})
    assert response.status_code == 400
    assert "X-Hub-Signature-256" in response.get_json()["error"]
    assert counts(session_factory)["jobs"] == 0


@sqlite_only
@pytest.mark.parametrize("signature", [
    "sha256=" + "0" * 64,
    "sha1=abc",
    "garbage",
    signature_for("another secret entirely!", b"{}"),
])
def test_wrong_signature_is_401(client: FlaskClient, session_factory, signature: str) -> None:  # type: ignore[no-untyped-def]
    register(session_factory)
    response = deliver(client, "push", payload("push.with-new-branch.json"), signature=signature)
    assert response.status_code == 401
    assert counts(session_factory) == {"jobs": 0, "commits": 0, "pushes": 0, "deliveries": 0}


@sqlite_only
def test_body_signed_with_another_secret_is_401(client: FlaskClient, session_factory) -> None:  # type: ignore[no-untyped-def]
    register(session_factory)
    response = deliver(client, "push", payload("push.with-new-branch.json"), secret="not the configured secret")
    assert response.status_code == 401


@sqlite_only
def test_body_over_the_limit_is_413(client: FlaskClient, session_factory) -> None:  # type: ignore[no-untyped-def]
    register(session_factory)
    body = json.dumps({"padding": "x" * (70 * 1024)}).encode()  # the app's limit is 64 KiB here
    response = deliver(client, "push", body)
    assert response.status_code == 413
    assert "limit" in response.get_json()["error"]


@sqlite_only
def test_ping_is_200(client: FlaskClient, session_factory) -> None:  # type: ignore[no-untyped-def]
    response = deliver(client, "ping", payload("ping.json"))
    assert response.status_code == 200
    assert response.get_json()["message"] == "pong"


@pytest.mark.parametrize("fixture", ["push.json", "push.with-organization.json"])
def test_tag_deletion_push_is_ignored(client: FlaskClient, session_factory, fixture: str) -> None:  # type: ignore[no-untyped-def]
    register(session_factory)
    response = deliver(client, "push", payload(fixture))
    assert response.status_code == 202
    assert "deleted" in response.get_json()["message"]
    assert counts(session_factory)["jobs"] == 0
    assert counts(session_factory)["deliveries"] == 1


@pytest.mark.parametrize("fixture", ["push.with-new-branch.json", "push.with-no-username-committer.json"])
def test_new_branch_push_records_commit_and_queues_one_job_per_suite(  # type: ignore[no-untyped-def]
    client: FlaskClient, session_factory, make_settings, fixture: str
) -> None:
    from dashboard import create_app
    from perfhud.settings import hash_token

    register(session_factory)
    settings = make_settings(PERFHUD_WEBHOOK_SECRET=WEBHOOK_SECRET, PERFHUD_SUITES="ci,nightly",
                             PERFHUD_API_TOKENS=hash_token("x" * 20))
    client = create_app(settings).test_client()
    response = deliver(client, "push", payload(fixture))
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert len(body["jobs"]) == 2
    with session_factory() as session:
        commit = session.scalars(select(Commit)).one()
        assert commit.sha == NEW_BRANCH_HEAD
        assert commit.message == "Initial commit"
        assert commit.parents == []  # `before` is forty zeros on a new branch
        push = session.scalars(select(Push)).one()
        assert (push.branch, push.source) == ("master", "push")
        jobs = session.scalars(select(Job).order_by(Job.suite)).all()
        assert sorted(j.suite for j in jobs) == ["ci", "nightly"]
        assert all(j.commit_id == commit.id and j.status.value == "queued" for j in jobs)
        assert sorted(body["jobs"]) == sorted(j.id for j in jobs)


def test_push_of_several_commits_chains_parents(client: FlaskClient, session_factory) -> None:  # type: ignore[no-untyped-def]
    register(session_factory)
    data = json.loads(payload("push.with-new-branch.json"))
    data["before"] = "1" * 40
    first = dict(data["commits"][0])
    second = dict(first, id="2" * 40, message="second; rm -rf / $(whoami) `id` | cat")
    data["commits"] = [first, second]
    response = deliver(client, "push", json.dumps(data).encode())
    assert response.status_code == 202
    with session_factory() as session:
        by_sha = {c.sha: c for c in session.scalars(select(Commit))}
        assert by_sha[NEW_BRANCH_HEAD].parents == ["1" * 40]
        assert by_sha["2" * 40].parents == [NEW_BRANCH_HEAD]
        assert by_sha["2" * 40].message.startswith("second; rm -rf /")
    assert counts(session_factory)["jobs"] == 2


@pytest.mark.parametrize("fixture", [
    "pull_request.opened.json", "pull_request.synchronize.json", "pull_request.reopened.json",
    "pull_request.opened.with-null-body.json",
])
def test_pull_request_queues_one_job_for_head_sha(client: FlaskClient, session_factory, fixture: str) -> None:  # type: ignore[no-untyped-def]
    register(session_factory)
    response = deliver(client, "pull_request", payload(fixture))
    assert response.status_code == 202, response.get_json()
    with session_factory() as session:
        job = session.scalars(select(Job)).one()
        assert job.commit.sha == PR_HEAD
        push = session.scalars(select(Push)).one()
        assert (push.branch, push.pull_number, push.source) == ("pull/2", 2, "pull_request")


def test_pull_request_closed_is_ignored(client: FlaskClient, session_factory) -> None:  # type: ignore[no-untyped-def]
    register(session_factory)
    response = deliver(client, "pull_request", payload("pull_request.closed.json"))
    assert response.status_code == 202
    assert "closed" in response.get_json()["message"]
    assert counts(session_factory)["jobs"] == 0


def test_unhandled_event_is_ignored_with_reason(client: FlaskClient, session_factory) -> None:  # type: ignore[no-untyped-def]
    register(session_factory)
    response = deliver(client, "issues", payload("pull_request.opened.json"))
    assert response.status_code == 202
    assert "'issues' is not handled" in response.get_json()["message"]


@pytest.mark.parametrize("fixture,event", [("push.with-new-branch.json", "push"),
                                           ("pull_request.opened.json", "pull_request")])
def test_unregistered_repository_is_403(client: FlaskClient, session_factory, fixture: str, event: str) -> None:  # type: ignore[no-untyped-def]
    register(session_factory, "someone/else")
    response = deliver(client, event, payload(fixture))
    assert response.status_code == 403
    assert "codertocat/hello-world" in response.get_json()["error"].lower()
    assert counts(session_factory) == {"jobs": 0, "commits": 0, "pushes": 0, "deliveries": 0}


def test_disabled_repository_is_403(client: FlaskClient, session_factory) -> None:  # type: ignore[no-untyped-def]
    register(session_factory)
    with session_factory() as session:
        session.scalars(select(Repository)).one().enabled = False
        session.commit()
    response = deliver(client, "push", payload("push.with-new-branch.json"))
    assert response.status_code == 403
    assert counts(session_factory) == {"jobs": 0, "commits": 0, "pushes": 0, "deliveries": 0}


def test_redelivery_is_200_even_after_the_repository_was_disabled(client: FlaskClient, session_factory) -> None:  # type: ignore[no-untyped-def]
    """A delivery recorded once stays answered as a repeat: what was recorded is not undone."""
    register(session_factory)
    body = payload("push.with-new-branch.json")
    assert deliver(client, "push", body, delivery="recorded-once").status_code == 202
    with session_factory() as session:
        session.scalars(select(Repository)).one().enabled = False
        session.commit()
    before = counts(session_factory)
    assert deliver(client, "push", body, delivery="recorded-once").status_code == 200
    assert deliver(client, "push", body).status_code == 403
    assert counts(session_factory) == before


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_delivery_after_the_servers_connections_were_dropped_is_recorded(  # type: ignore[no-untyped-def]
    client: FlaskClient, session_factory
) -> None:
    """Deliveries are recorded without pinging the pooled connection first: a dead one is
    replaced and the statement run again, so a restarted server costs no failed delivery."""
    from sqlalchemy import text

    register(session_factory)
    assert deliver(client, "pull_request", payload("pull_request.opened.json")).status_code == 202
    with session_factory() as session:  # what a server restart does to every pooled connection
        killed = session.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    assert killed >= 1
    response = deliver(client, "push", payload("push.with-new-branch.json"))
    assert response.status_code == 202, response.get_json()
    assert counts(session_factory)["jobs"] == 2


@sqlite_only
def test_repository_outside_allowed_list_is_403(make_settings, session_factory) -> None:  # type: ignore[no-untyped-def]
    from dashboard import create_app

    register(session_factory)
    settings = make_settings(PERFHUD_WEBHOOK_SECRET=WEBHOOK_SECRET, PERFHUD_ALLOWED_REPOS="acme/other")
    response = deliver(create_app(settings).test_client(), "push", payload("push.with-new-branch.json"))
    assert response.status_code == 403


def test_repeated_delivery_is_200_and_adds_nothing(client: FlaskClient, session_factory) -> None:  # type: ignore[no-untyped-def]
    register(session_factory)
    body = payload("push.with-new-branch.json")
    first = deliver(client, "push", body, delivery="same-delivery-id")
    assert first.status_code == 202
    before = counts(session_factory)
    again = deliver(client, "push", body, delivery="same-delivery-id")
    assert again.status_code == 200
    assert again.get_json()["jobs"] == []
    assert counts(session_factory) == before


def test_new_delivery_of_known_commit_queues_nothing_new(client: FlaskClient, session_factory) -> None:  # type: ignore[no-untyped-def]
    register(session_factory)
    body = payload("pull_request.opened.json")
    assert deliver(client, "pull_request", body).status_code == 202
    second = deliver(client, "pull_request", payload("pull_request.synchronize.json"))
    assert second.status_code == 202
    assert second.get_json()["jobs"] == []
    assert counts(session_factory)["jobs"] == 1


@sqlite_only
@pytest.mark.parametrize("body,event", [(b"not json", "push"), (b"[1, 2]", "push"),
                                         (b'{"ref": "refs/heads/x", "repository": {"full_name": "Codertocat/Hello-World"}, "commits": [{"id": "nothex"}]}', "push")])
def test_malformed_body_is_400(client: FlaskClient, session_factory, body: bytes, event: str) -> None:  # type: ignore[no-untyped-def]
    register(session_factory)
    response = deliver(client, event, body)
    assert response.status_code == 400
    assert response.get_json()["error"]


@sqlite_only
def test_no_secret_configured_refuses_deliveries(make_settings) -> None:  # type: ignore[no-untyped-def]
    from dashboard import create_app

    client = create_app(make_settings()).test_client()
    response = deliver(client, "ping", payload("ping.json"))
    assert response.status_code == 503
    assert "PERFHUD_WEBHOOK_SECRET" in response.get_json()["error"]


@sqlite_only
def test_publisher_receives_the_new_job_ids(client: FlaskClient, session_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import dashboard.webhooks as webhooks

    published: list[list[int]] = []
    monkeypatch.setattr(webhooks, "publish_after_commit", lambda jobs: published.append([i for i, _ in jobs]))
    register(session_factory)
    response = deliver(client, "push", payload("push.with-new-branch.json"))
    assert published == [response.get_json()["jobs"]]
    assert len(published[0]) == 1


def test_queued_jobs_are_published_after_the_answer(client: FlaskClient, app, session_factory) -> None:  # type: ignore[no-untyped-def]
    """The answer does not wait for the broker; the app's relay publishes the new jobs and stamps
    them, here through the embedded broker."""
    from dashboard.publishing import relay_for
    from dashboard.settings_access import SETTINGS_KEY

    app.config[SETTINGS_KEY].data_dir.mkdir(parents=True, exist_ok=True)  # where the embedded broker lives
    register(session_factory)
    response = deliver(client, "push", payload("push.with-new-branch.json"))
    assert response.status_code == 202
    assert relay_for(app).flush(timeout=60)
    with session_factory() as session:
        jobs = session.scalars(select(Job)).all()
        assert [j.id for j in jobs] == response.get_json()["jobs"]
        assert all(j.published_at is not None for j in jobs)
