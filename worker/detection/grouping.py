"""Grouping of the alerts of one push: one group per blamed commit, largest first.

An engineer reads "abc1234 moved 14 series on 2 hosts" once, instead of 14 alerts; groups
are ranked by the largest change they hold, then by how many series moved.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from .model import REGRESSION, Alert, AlertGroup


def group_alerts(alerts: Sequence[Alert]) -> list[AlertGroup]:
    """Group alerts by suspect commit; groups and the alerts inside them ranked by size."""
    by_commit: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        by_commit[alert.commit].append(alert)
    groups = []
    for commit, members in by_commit.items():
        members.sort(key=lambda a: (-abs(a.change_pct), a.series))
        hosts = tuple(sorted({a.host for a in members if a.host is not None}))
        regressions = sum(1 for a in members if a.state == REGRESSION)
        groups.append(
            AlertGroup(
                commit=commit,
                alerts=tuple(members),
                hosts=hosts,
                regressions=regressions,
                improvements=len(members) - regressions,
                max_abs_change_pct=abs(members[0].change_pct),
                summary=_summary(commit, members, hosts, regressions),
            )
        )
    groups.sort(key=lambda g: (-g.max_abs_change_pct, -len(g.alerts), g.commit))
    return groups


def _summary(commit: str, members: list[Alert], hosts: tuple[str, ...], regressions: int) -> str:
    n = len(members)
    where = f" on {len(hosts)} host{'s' if len(hosts) != 1 else ''}" if hosts else ""
    parts = []
    if regressions:
        parts.append(f"{regressions} worse")
    if n - regressions:
        parts.append(f"{n - regressions} better")
    largest = members[0]
    return (
        f"{commit[:12]} moved {n} series{where} ({', '.join(parts)}; "
        f"largest {largest.change_pct:+.1f}% in {largest.series})"
    )
