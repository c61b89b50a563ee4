"""The alerts page: alert groups per suspect commit, with triage (state, assignee, notes).

Triage writes go through the API (``PATCH /api/v1/alert-groups/<id>``) with a bearer token;
the page's script sends them with the token the user typed, kept only in the browser tab.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template

from dashboard.errors import ApiError
from dashboard.params import page_arg, text_arg
from dashboard.store import get_session
from db.models import AlertState
from db.queries.alerts import AlertGroupView, list_alert_groups, parse_state
from db.queries.common import Page, resolve_repository

bp = Blueprint("alerts", __name__)


@dataclass(frozen=True)
class AlertsPage:
    groups: list[AlertGroupView]
    total: int
    page: Page
    state: str | None
    repository: str | None


def load_alerts_page() -> AlertsPage:
    session = get_session()
    repo_name = text_arg("repository")
    repository_id = None
    if repo_name:
        repository = resolve_repository(session, repo_name)
        if repository is None:
            raise ApiError(404, f"repository {repo_name!r} is not registered")
        repository_id = repository.id
    raw_state = text_arg("state")
    try:
        state = parse_state(raw_state) if raw_state else None
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    page = page_arg(25)
    groups, total = list_alert_groups(session, repository_id=repository_id, state=state, page=page)
    return AlertsPage(groups=groups, total=total, page=page, state=raw_state, repository=repo_name)


@bp.get("/alerts")
def alerts_page():  # type: ignore[no-untyped-def]
    return render_template("alerts.html", view=load_alerts_page(), states=[s.value for s in AlertState])
