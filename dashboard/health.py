"""``GET /healthz``: liveness for supervisors and load balancers.

It answers 200 only when the store answers, so a web process that lost its database is taken
out of rotation instead of serving errors; it touches no table, so it stays cheap.
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from dashboard.store import get_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    try:
        get_session().execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return jsonify(status="unavailable", error=f"store: {type(exc).__name__}"), 503
    return jsonify(status="ok")
