"""Read queries shared by the dashboard's pages and its JSON API.

Each module answers one question the dashboard asks (the HUD grid, a series, a commit against
another, the alerts, the hosts) and returns frozen dataclasses, so a page and its API route can
never disagree about what the store holds. Nothing here writes.
"""

from db.queries.alerts import AlertGroupView, AlertView, list_alert_groups
from db.queries.common import Page, find_commit, list_repositories, resolve_host, resolve_repository
from db.queries.compare import CommitJob, CommitResult, commit_jobs, commit_results, parent_commit
from db.queries.hosts import HostView, list_hosts
from db.queries.hud import HudCell, HudColumn, HudCommit, HudFilters, HudGrid, load_hud
from db.queries.series import Series, SeriesAlert, SeriesPoint, load_series

__all__ = [
    "AlertGroupView", "AlertView", "CommitJob", "CommitResult", "HostView", "HudCell", "HudColumn",
    "HudCommit", "HudFilters", "HudGrid", "Page", "Series", "SeriesAlert", "SeriesPoint",
    "commit_jobs", "commit_results", "find_commit", "list_alert_groups", "list_hosts",
    "list_repositories", "load_hud", "load_series", "parent_commit", "resolve_host",
    "resolve_repository",
]
