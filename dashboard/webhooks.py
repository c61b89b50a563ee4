"""``POST /webhooks/github``: verify, record once, queue, answer.

The handler only records and queues. The delivery row, the commits, the push and its jobs are
written in ONE transaction, so a redelivery (same ``X-GitHub-Delivery``) finds the delivery
row and changes nothing, and a crash leaves either all of it or none. The answer goes out right
after the commit: the jobs are handed to the process's outbox relay, which publishes them in
the background (:mod:`dashboard.publishing`); if the broker is down they stay queued and the
sweeper publishes them.

The delivery is claimed first, by an insert that does nothing when the id exists: one
statement both detects a redelivery and, when two copies arrive at once, makes the second wait
for the first to commit and then find it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from flask import Blueprint, jsonify, request
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard.errors import ApiError
from dashboard.github import Ignored, PayloadError, Pong, PushWork, interpret, signature_matches
from dashboard.publishing import publish_after_commit
from dashboard.settings_access import settings
from dashboard.store import session_factory
from db.ingest import get_repository, record_push
from db.models import WebhookDelivery
from db.session import run_in_transaction

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@dataclass
class _Recorded:
    status: int
    message: str
    jobs: list[tuple[int, str]] = field(default_factory=list)  # (job id, queue) of the new jobs


class _RepoNotRegistered(Exception):
    pass


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

    try:
        recorded = _record_with_retry(event, delivery_id, outcome)
    except _RepoNotRegistered:
        log.info("webhook delivery %s: repository %s not registered", delivery_id, repo_name)
        raise ApiError(403, f"repository {repo_name!r} is not registered with perfhud") from None
    if recorded.jobs:
        publish_after_commit(recorded.jobs)
    log.info("webhook delivery %s (%s): %s", delivery_id, event, recorded.message)
    job_ids = [job_id for job_id, _ in recorded.jobs]
    return jsonify(message=recorded.message, delivery=delivery_id, jobs=job_ids), recorded.status


def _record_with_retry(event: str, delivery_id: str, outcome: Ignored | PushWork) -> _Recorded:
    """Record in one transaction; on a unique-key race (the same delivery, or a job for the same
    commit, committed meanwhile by another worker) run it again: the second run sees the winner's
    rows and adds only what is still missing."""
    for attempt in range(3):
        try:
            return run_in_transaction(session_factory(), lambda s: _record(s, event, delivery_id, outcome))
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("webhook delivery %s raced another writer; recording again", delivery_id)
    raise AssertionError("unreachable")


def _claim_delivery(session: Session, delivery_id: str, event: str, outcome: Ignored | PushWork) -> bool:
    """Record the delivery; False if it was recorded before (a redelivery)."""
    if isinstance(outcome, Ignored):
        state, detail = "ignored", outcome.reason
    else:
        state, detail = "queued", f"{len(outcome.commits)} commit(s) on {outcome.branch}"
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    claimed = session.execute(
        insert(WebhookDelivery)
        .values(delivery_id=delivery_id, event=event, repository=outcome.repository, outcome=state, detail=detail)
        .on_conflict_do_nothing(index_elements=[WebhookDelivery.delivery_id])
        .returning(WebhookDelivery.id)
    ).first()
    return claimed is not None


def _record(session: Session, event: str, delivery_id: str, outcome: Ignored | PushWork) -> _Recorded:
    if not _claim_delivery(session, delivery_id, event, outcome):
        return _Recorded(200, f"delivery {delivery_id} was already processed; nothing new")
    repo_name = outcome.repository
    repository = get_repository(session, repo_name) if repo_name else None
    if repo_name is not None and (repository is None or not repository.enabled):
        raise _RepoNotRegistered(repo_name)  # rolls the claim back: nothing is recorded
    if isinstance(outcome, Ignored):
        return _Recorded(202, f"ignored: {outcome.reason}")
    assert repository is not None
    record = record_push(
        session,
        repository,
        branch=outcome.branch,
        commits=list(outcome.commits),
        source=outcome.source,
        suites=settings().suites,
        before_sha=outcome.before_sha,
        delivery_id=delivery_id,
        pull_number=outcome.pull_number,
    )
    jobs = [(job.id, job.queue) for job in record.new_jobs]
    return _Recorded(202, f"queued {len(jobs)} job(s) for {len(record.commits)} commit(s) on {outcome.branch}", jobs)
