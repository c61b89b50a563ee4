"""The hosts page: each benchmark host, its pinned cores, its current job and its queue."""

from __future__ import annotations

from flask import Blueprint, render_template

from dashboard.store import get_session
from db.queries.hosts import list_hosts

bp = Blueprint("hosts", __name__)


@bp.get("/hosts")
def hosts_page():  # type: ignore[no-untyped-def]
    return render_template("hosts.html", hosts=list_hosts(get_session()))
