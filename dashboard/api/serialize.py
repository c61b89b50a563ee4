"""JSON shapes of the API: plain dicts from the same view objects the pages render."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dashboard.alerts import AlertsPage
from dashboard.commits import CommitComparison
from dashboard.hud import HudPage
from dashboard.series import detectable_change_pct
from db.models import Benchmark, Commit, Host, Repository
from db.queries.alerts import AlertGroupView
from db.queries.common import Page
from db.queries.compare import CommitJob
from db.queries.hosts import HostView
from db.queries.series import Series, SeriesPoint


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def page_info(page: Page, total: int) -> dict[str, int]:
    return {"page": page.number, "per_page": page.size, "total": total}


def repository(r: Repository) -> dict[str, Any]:
    return {"full_name": r.full_name, "clone_url": r.clone_url, "default_branch": r.default_branch, "enabled": r.enabled}


def benchmark(b: Benchmark) -> dict[str, Any]:
    return {
        "id": b.id, "name": b.name, "model": b.model, "mode": b.mode, "precision": b.precision,
        "variant": b.variant, "metric": b.metric, "unit": b.unit, "direction": b.direction.value, "family": b.family,
    }


def host(h: Host) -> dict[str, Any]:
    return {
        "name": h.name, "cpu_model": h.cpu_model, "isa": list(h.isa or []), "cores": h.cores,
        "numa_node": h.numa_node, "threads": h.threads, "torch_version": h.torch_version, "kernel": h.kernel,
        "governor": h.governor, "last_seen": iso(h.last_seen),
    }


def host_view(h: HostView) -> dict[str, Any]:
    return {
        "name": h.name, "cpu_model": h.cpu_model, "isa": h.isa, "cores": h.cores, "numa_node": h.numa_node,
        "threads": h.threads, "torch_version": h.torch_version, "kernel": h.kernel, "governor": h.governor,
        "last_seen": iso(h.last_seen), "current_job": h.current_job_id, "current_commit": h.current_job_sha,
        "queue": h.queue, "queue_depth": h.queue_depth, "shared_queue_depth": h.shared_depth,
    }


def commit(c: Commit) -> dict[str, Any]:
    return {
        "sha": c.sha, "title": c.title, "message": c.message, "author": c.author,
        "committed_at": iso(c.committed_at), "parents": list(c.parents or []), "url": c.url,
    }


def hud(page: HudPage) -> dict[str, Any]:
    """The grid as columns plus, per commit, one entry per column in the same order:
    ``[status, change_pct, median, confidence]``, ``[status]`` for a pending or failed job, or
    null. Positional rather than keyed: a 100 x 200 grid stays a few hundred kilobytes."""
    grid = page.grid
    rows = []
    for c in grid.commits:
        state = grid.job_state.get(c.id)
        missing = [state] if state is not None else None
        row_cells = grid.cells.get(c.id, {})
        entries = []
        for col in grid.columns:
            cell = row_cells.get(col.benchmark_id)
            entries.append(missing if cell is None else [cell[0] or "measured", cell[1], cell[2], cell[3]])
        rows.append({
            "sha": c.sha, "title": c.title, "author": c.author, "committed_at": iso(c.committed_at), "cells": entries,
        })
    return {
        "repository": page.repository.full_name, "branch": page.branch, "host": page.host.name,
        "filters": {"suite": page.suite, "variant": page.variant, "precision": page.precision},
        "cell_fields": ["status", "change_pct", "median", "confidence"],
        "columns": [
            {"benchmark_id": col.benchmark_id, "family": col.family, "model": col.model, "mode": col.mode,
             "precision": col.precision, "variant": col.variant, "metric": col.metric, "unit": col.unit}
            for col in grid.columns
        ],
        "commits": rows,
        **page_info(grid.page, grid.total_commits),
    }


def _point(p: SeriesPoint) -> dict[str, Any]:
    return {
        "sha": p.sha, "title": p.title, "committed_at": iso(p.committed_at), "median": p.median,
        "samples": p.samples, "verdict": p.verdict, "change_pct": p.change_pct, "confidence": p.confidence,
    }


def series(s: Series) -> dict[str, Any]:
    detectable = detectable_change_pct(s)
    return {
        "repository": s.repository.full_name, "branch": s.branch, "host": s.host.name,
        "benchmark": benchmark(s.benchmark), "points": [_point(p) for p in s.points],
        "baseline": benchmark(s.baseline) if s.baseline is not None else None,
        "baseline_points": [_point(p) for p in s.baseline_points],
        "min_detectable_change_pct": detectable.fast,
        "min_detectable_change_slow_pct": detectable.slow,
        "alerts": [
            {"id": a.alert_id, "group_id": a.group_id, "sha": a.sha, "direction": a.direction, "state": a.state,
             "change_pct": a.change_pct, "confidence": a.confidence}
            for a in s.alerts
        ],
    }


def job(j: CommitJob) -> dict[str, Any]:
    return {
        "id": j.id, "suite": j.suite, "kind": j.kind, "status": j.status, "host": j.host.name if j.host else None,
        "attempts": j.attempts, "queued_at": iso(j.queued_at), "started_at": iso(j.started_at),
        "finished_at": iso(j.finished_at), "error": j.error, "log_tail": j.log_tail, "command": j.command,
    }


def comparison(view: CommitComparison) -> dict[str, Any]:
    rows = []
    for row in view.rows:
        c = row.comparison
        rows.append({
            "benchmark": benchmark(row.head.benchmark), "host": row.head.host.name,
            "median": row.head.median, "samples": row.head.samples,
            "base_median": row.base.median if row.base else None,
            "ratio": c.ratio if c else None, "change_pct": c.change_pct if c else None,
            "p_value": c.p_value if c else None, "significant": c.significant if c else None,
            "verdict": row.head.verdict, "reproduce": row.reproduce,
        })
    return {
        "repository": view.repository.full_name, "head": commit(view.head),
        "base": commit(view.base) if view.base is not None else None,
        "results": rows, "jobs": [job(j) for j in view.jobs], "hosts": [host(h) for h in view.hosts],
    }


def alert_group(g: AlertGroupView) -> dict[str, Any]:
    return {
        "id": g.id, "repository": g.repository, "suspect_sha": g.suspect_sha, "suspect_title": g.suspect_title,
        "push_id": g.push_id, "state": g.state, "assignee": g.assignee, "notes": g.notes,
        "created_at": iso(g.created_at), "updated_at": iso(g.updated_at),
        "regressions": g.regressions, "improvements": g.improvements,
        "alerts": [
            {"id": a.id, "benchmark": a.benchmark_name, "benchmark_id": a.benchmark_id, "host": a.host_name,
             "direction": a.direction, "change_pct": a.change_pct, "confidence": a.confidence, "state": a.state,
             "last_good_sha": a.last_good_sha}
            for a in g.alerts
        ],
    }


def alerts(view: AlertsPage) -> dict[str, Any]:
    return {"groups": [alert_group(g) for g in view.groups], **page_info(view.page, view.total)}
