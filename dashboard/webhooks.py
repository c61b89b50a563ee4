"""``POST /webhooks/github``: verify, record once, queue, answer.

The handler only records and queues, through :func:`db.delivery.record_delivery`: the delivery
row, the commits, the push and its jobs are written at once (one statement on PostgreSQL), so a
redelivery (same ``X-GitHub-Delivery``) finds the delivery row and changes nothing, and a crash
leaves either all of it or none. The answer goes out right after: the new jobs are handed to
the process's outbox relay, which publishes them in the background
(:mod:`dashboard.publishing`); if the broker is down they stay queued and the sweeper publishes
them.

A delivery is the hot path of the app (GitHub may send hundreds a second), so the view does
only what each delivery needs: the body is read and parsed once, what can be built once per
process (the engine deliveries are recorded with) is, and the store is reached without the
ORM's unit of work.
"""

from __future__ import annotations

import json
import logging
import os

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import Engine

from dashboard.errors import ApiError
from dashboard.github import Ignored, PayloadError, Pong, PushWork, interpret, signature_matches
from dashboard.publishing import publish_after_commit
from dashboard.settings_access import settings
from dashboard import store
from db.delivery import Claim, Delivery, PushRows, delivery_engine, record_delivery

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

_ENGINE_KEY = "perfhud.webhook_engine"


def _engine() -> Engine:
    """The engine deliveries are recorded with (:func:`db.delivery.delivery_engine`), made once
    per app and process: a process forked after it was made (gunicorn ``--preload``) makes its
    own rather than share the parent's connections."""
    made = current_app.extensions.get(_ENGINE_KEY)
    pid = os.getpid()
    if made is None or made[0] != pid:
        made = current_app.extensions[_ENGINE_KEY] = (pid, delivery_engine(store.engine()))
    return made[1]


@bp.post("/github")
def github():  # type: ignore[no-untyped-def]
    cfg = settings()
    request.max_content_length = cfg.webhook_max_body
    if cfg.webhook_secret is None:
        raise ApiError(503, "PERFHUD_WEBHOOK_SECRET is not set; deliveries cannot be verified and are refused")
    signature = request.headers.get("X-Hub-Signature-256")
    if not signature:
        raise ApiError(400, "missing X-Hub-Signature-256 header (set a secret on the GitHub hook)")
    body = request.get_data(cache=False)
    if not signature_matches(cfg.webhook_secret, body, signature):
        log.warning("webhook delivery %s: signature does not match", request.headers.get("X-GitHub-Delivery"))
        raise ApiError(401, "X-Hub-Signature-256 does not match the body signed with the configured secret")
    event = request.headers.get("X-GitHub-Event", "")
    delivery_id = request.headers.get("X-GitHub-Delivery", "")
    if not event or not delivery_id:
        raise ApiError(400, "missing X-GitHub-Event or X-GitHub-Delivery header")
    if len(delivery_id) > 100:
        raise ApiError(400, "X-GitHub-Delivery is longer than 100 characters")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "body must be a JSON object")
    try:
        outcome = interpret(event, payload)
    except PayloadError as exc:
        raise ApiError(400, f"malformed {event} payload: {exc}") from None

    if isinstance(outcome, Pong):
        log.info("webhook delivery %s: ping", delivery_id)
        return jsonify(message="pong", zen=outcome.zen), 200

    repo_name = outcome.repository
    if repo_name is not None and not cfg.repo_allowed(repo_name):
        log.info("webhook delivery %s: repository %s not allowed", delivery_id, repo_name)
        raise ApiError(403, f"repository {repo_name!r} is not registered with perfhud")

    recorded = record_delivery(_engine(), _delivery(event, delivery_id, outcome, cfg.suites))
    if recorded.claim is Claim.UNREGISTERED:
        log.info("webhook delivery %s: repository %s not registered", delivery_id, repo_name)
        raise ApiError(403, f"repository {repo_name!r} is not registered with perfhud")
    if recorded.claim is Claim.REPEATED:
        status, message = 200, f"delivery {delivery_id} was already processed; nothing new"
    elif isinstance(outcome, Ignored):
        status, message = 202, f"ignored: {outcome.reason}"
    else:
        status = 202
        message = f"queued {len(recorded.jobs)} job(s) for {recorded.commits} commit(s) on {outcome.branch}"
    if recorded.jobs:
        publish_after_commit(recorded.jobs)
    log.info("webhook delivery %s (%s): %s", delivery_id, event, message)
    return jsonify(message=message, delivery=delivery_id, jobs=[job_id for job_id, _ in recorded.jobs]), status


def _delivery(event: str, delivery_id: str, outcome: Ignored | PushWork, suites: tuple[str, ...]) -> Delivery:
    if isinstance(outcome, Ignored):
        return Delivery(delivery_id, event, outcome.repository, "ignored", outcome.reason)
    push = PushRows(branch=outcome.branch, commits=outcome.commits, source=outcome.source, suites=suites,
                    before_sha=outcome.before_sha, pull_number=outcome.pull_number)
    return Delivery(delivery_id, event, outcome.repository, "queued",
                    f"{len(outcome.commits)} commit(s) on {outcome.branch}", push)
