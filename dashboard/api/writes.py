"""Write routes of the API; each needs ``Authorization: Bearer <token>``."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from dashboard.actions import ActionError, Triage, rerun_job, triage_alert, triage_group
from dashboard.api import bp
from dashboard.auth import require_token, token_label
from dashboard.errors import ApiError
from dashboard.publishing import publish_after_commit
from dashboard.settings_access import settings
from dashboard.store import session_factory
from db.models import Job
from db.queries.alerts import parse_state
from db.session import run_in_transaction

ID = "<int(max=2147483647):{}>"


def json_object() -> dict[str, Any]:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise ApiError(400, "the body must be a JSON object (Content-Type: application/json)")
    return payload


def parse_triage(payload: dict[str, Any]) -> Triage:
    unknown = set(payload) - {"state", "assignee", "notes"}
    if unknown:
        raise ApiError(400, f"unknown field(s) {', '.join(sorted(unknown))}; allowed: state, assignee, notes")
    for name in ("state", "assignee", "notes"):
        if name in payload and not isinstance(payload[name], str):
            raise ApiError(400, f"field {name!r} must be a string")
    try:
        return Triage(
            state=parse_state(payload["state"]) if "state" in payload else None,
            assignee=payload.get("assignee"),
            notes=payload.get("notes"),
        )
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


def _run(work):  # type: ignore[no-untyped-def]
    try:
        return run_in_transaction(session_factory(), work)
    except ActionError as exc:
        raise ApiError(exc.status, str(exc)) from None


def _triage(apply, target_id: int):  # type: ignore[no-untyped-def]
    """Apply a triage change (state, assignee, notes) to an alert or an alert group."""
    who = token_label(require_token())
    change = parse_triage(json_object())

    def work(session: Session) -> dict[str, Any]:
        row = apply(session, target_id, change, who)
        return {"id": row.id, "state": row.state.value, "assignee": row.assignee, "notes": row.notes}

    return jsonify(_run(work))


@bp.patch("/alert-groups/" + ID.format("group_id"))
def patch_alert_group(group_id: int):  # type: ignore[no-untyped-def]
    return _triage(triage_group, group_id)


@bp.patch("/alerts/" + ID.format("alert_id"))
def patch_alert(alert_id: int):  # type: ignore[no-untyped-def]
    return _triage(triage_alert, alert_id)


@bp.post("/jobs/" + ID.format("job_id") + "/rerun")
def post_rerun(job_id: int):  # type: ignore[no-untyped-def]
    require_token()
    new_id, queue = _run(lambda session: _id_and_queue(rerun_job(session, job_id)))
    publish_after_commit([(new_id, queue)])
    return jsonify(job=new_id, rerun_of=job_id, status="queued"), 201


def _id_and_queue(job: Job) -> tuple[int, str]:
    return job.id, job.queue


@bp.post("/results")
def post_results():  # type: ignore[no-untyped-def]
    """Validate a results file with the benchmarks package's own validator, store it, then run
    change detection on the series it extends."""
    from benchmarks.results import MAX_BYTES, ResultsError, load_results

    from dashboard.params import text_arg
    from dashboard.uploads import MAX_HOST_NAME, Upload, store_upload

    require_token()
    request.max_content_length = MAX_BYTES
    repository, sha, host = text_arg("repository"), text_arg("sha"), text_arg("host")
    if not repository or not sha or not host:
        raise ApiError(400, "parameters 'repository', 'sha' and 'host' are required")
    if len(sha) != 40 or any(ch not in "0123456789abcdef" for ch in sha):
        raise ApiError(400, "parameter 'sha' must be 40 lowercase hex characters")
    if len(host) > MAX_HOST_NAME:
        raise ApiError(400, f"parameter 'host' is longer than {MAX_HOST_NAME} characters")
    suite = text_arg("suite") or settings().suites[0]
    if suite not in settings().suites:
        raise ApiError(400, f"suite {suite!r} is not configured; configured: {', '.join(settings().suites)}")
    try:
        results = load_results(request.get_data(cache=False), max_bytes=MAX_BYTES)
    except ResultsError as exc:
        raise ApiError(400, f"results file rejected: {exc}") from None
    upload = Upload(repository=repository, sha=sha, host=host, suite=suite)
    job_id, stored = _run(lambda session: store_upload(session, upload, results))
    # Committed: now the same change detection a worker runs after its own jobs (verdicts on
    # the new points, alerts). An upload queues no re-run: its runner is not a host of ours,
    # so a suspect is confirmed by later uploads. It never raises; the results stay stored.
    from worker.analysis import analyze_job

    analyze_job(settings(), job_id)
    return jsonify(job=job_id, results=stored), 201
