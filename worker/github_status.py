"""Commit statuses on GitHub (optional): ``perfhud`` pending while a job runs, then success or
failure, linking to the commit's page on the dashboard.

Only with ``PERFHUD_GITHUB_TOKEN`` set. A status is a courtesy: when GitHub is slow or refuses
it, the job is not affected; the failure is logged and the job goes on.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

from perfhud.settings import Settings

if TYPE_CHECKING:
    from worker.runner import JobSpec

log = logging.getLogger(__name__)

CONTEXT = "perfhud"
TIMEOUT_S = 10
_STATES = ("pending", "success", "failure", "error")
_DESCRIPTIONS = {
    "pending": "benchmarks running",
    "success": "benchmarks stored",
    "failure": "benchmark job failed",
    "error": "benchmark job could not run",
}


def commit_page_url(settings: Settings, full_name: str, sha: str) -> str | None:
    if settings.public_url is None:
        return None
    query = urllib.parse.urlencode({"repository": full_name})
    return f"{settings.public_url}/commit/{sha}?{query}"


def post_status(settings: Settings, full_name: str, sha: str, state: str, description: str | None = None) -> bool:
    """POST one status through GitHub's statuses API; True when GitHub accepted it."""
    if state not in _STATES:
        raise ValueError(f"unknown status state {state!r}; allowed: {', '.join(_STATES)}")
    if not settings.github_token:
        return False
    body = {"state": state, "context": CONTEXT, "description": (description or _DESCRIPTIONS[state])[:140]}
    target = commit_page_url(settings, full_name, sha)
    if target:
        body["target_url"] = target
    owner, _, name = full_name.partition("/")
    url = (f"{settings.github_api_url}/repos/{urllib.parse.quote(owner, safe='')}/"
           f"{urllib.parse.quote(name, safe='')}/statuses/{sha}")
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        method="POST",
        headers={
            "Authorization": f"Bearer {settings.github_token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "Content-Type": "application/json",
            "User-Agent": "perfhud",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        log.warning("GitHub status %s for %s@%s not reported: %s", state, full_name, sha[:12], exc)
        return False


def report_job_status(settings: Settings, spec: "JobSpec", state: str) -> None:
    """Report a regular job's state; confirmation and bisection runs stay quiet."""
    from db.models import JobKind

    if spec.kind != JobKind.REGULAR or not settings.github_token:
        return
    post_status(settings, spec.full_name, spec.sha, state)
