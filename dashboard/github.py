"""What a GitHub delivery asks of perfhud, decided from its event name and payload alone.

Pure: no Flask, no database. The webhook view verifies the signature, calls :func:`interpret`,
and records what comes back. Only a closed set of events does anything; everything else is
answered with the reason it was ignored, which GitHub shows in the hook's delivery log.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.ingest import CommitInfo, IngestError

ZERO_SHA = "0" * 40
BRANCH_PREFIX = "refs/heads/"
PR_ACTIONS = frozenset({"opened", "synchronize", "reopened"})
SIGNATURE_PREFIX = "sha256="


class PayloadError(ValueError):
    """A delivery whose payload lacks a field perfhud needs, or holds a malformed one."""


@dataclass(frozen=True)
class Pong:
    zen: str


@dataclass(frozen=True)
class Ignored:
    reason: str
    repository: str | None = None


@dataclass(frozen=True)
class PushWork:
    """Commits to record on a branch (oldest first), and jobs to queue for them."""

    repository: str
    branch: str
    before_sha: str | None
    commits: tuple[CommitInfo, ...]
    source: str  # push | pull_request
    pull_number: int | None = None


Outcome = Pong | Ignored | PushWork


def signature_for(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` header GitHub sends for ``body``."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    """Constant-time comparison, so the time taken leaks nothing about the expected value."""
    return hmac.compare_digest(signature_for(secret, body).encode("ascii"), header.strip().encode("utf-8", "replace"))


def repository_name(payload: dict[str, Any]) -> str | None:
    repo = payload.get("repository")
    if isinstance(repo, dict) and isinstance(repo.get("full_name"), str):
        return repo["full_name"]
    return None


def interpret(event: str, payload: dict[str, Any]) -> Outcome:
    if event == "ping":
        return Pong(zen=str(payload.get("zen", "")))
    if event == "push":
        return _push(payload)
    if event == "pull_request":
        return _pull_request(payload)
    return Ignored(f"event {event!r} is not handled; handled: ping, push, pull_request", repository_name(payload))


def _require_repo(payload: dict[str, Any]) -> str:
    name = repository_name(payload)
    if name is None:
        raise PayloadError("payload has no repository.full_name")
    return name


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise PayloadError(f"{where}.{key} must be a string, got {type(value).__name__}")
    return value


def _time(raw: object) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise PayloadError(f"commit timestamp {raw[:40]!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise PayloadError(f"commit timestamp {raw[:40]!r} has no timezone")
    return parsed


def _push(payload: dict[str, Any]) -> Outcome:
    repo = _require_repo(payload)
    ref = _str(payload, "ref", "payload")
    if payload.get("deleted"):
        return Ignored(f"{ref} was deleted; nothing to benchmark", repo)
    if not ref.startswith(BRANCH_PREFIX):
        return Ignored(f"{ref} is not a branch; only pushes to refs/heads/ are benchmarked", repo)
    raw_commits = payload.get("commits")
    if not isinstance(raw_commits, list):
        raise PayloadError("payload.commits must be a list")
    if not raw_commits:
        return Ignored(f"push to {ref} carries no commits", repo)
    before = payload.get("before")
    before_sha = before if isinstance(before, str) and before != ZERO_SHA else None
    commits: list[CommitInfo] = []
    # A push payload lists commits oldest first without their parents; each one's first parent
    # is the commit before it, and the first one's is the branch's previous head.
    parent = before_sha
    for i, raw in enumerate(raw_commits):
        if not isinstance(raw, dict):
            raise PayloadError(f"payload.commits[{i}] must be an object")
        sha = _str(raw, "id", f"commits[{i}]").lower()
        author = raw.get("author") if isinstance(raw.get("author"), dict) else {}
        try:
            info = CommitInfo(
                sha=sha,
                parents=(parent,) if parent else (),
                author=str(author.get("name") or author.get("username") or ""),
                message=str(raw.get("message") or ""),
                committed_at=_time(raw.get("timestamp")),
                url=raw.get("url") if isinstance(raw.get("url"), str) else None,
            )
        except IngestError as exc:
            raise PayloadError(str(exc)) from None
        commits.append(info)
        parent = sha
    return PushWork(
        repository=repo, branch=ref[len(BRANCH_PREFIX):], before_sha=before_sha, commits=tuple(commits), source="push"
    )


def _pull_request(payload: dict[str, Any]) -> Outcome:
    repo = _require_repo(payload)
    action = payload.get("action")
    if action not in PR_ACTIONS:
        return Ignored(f"pull_request action {action!r} is not benchmarked; benchmarked: {', '.join(sorted(PR_ACTIONS))}", repo)
    pr = payload.get("pull_request")
    if not isinstance(pr, dict) or not isinstance(pr.get("head"), dict):
        raise PayloadError("payload.pull_request.head must be an object")
    number = payload.get("number", pr.get("number"))
    if not isinstance(number, int) or isinstance(number, bool):
        raise PayloadError("payload.number must be an integer")
    head_sha = _str(pr["head"], "sha", "pull_request.head").lower()
    user = pr.get("user") if isinstance(pr.get("user"), dict) else {}
    try:
        info = CommitInfo(
            sha=head_sha,
            author=str(user.get("login") or ""),
            url=pr.get("html_url") if isinstance(pr.get("html_url"), str) else None,
        )
    except IngestError as exc:
        raise PayloadError(str(exc)) from None
    return PushWork(
        repository=repo, branch=f"pull/{number}", before_sha=None, commits=(info,), source="pull_request",
        pull_number=number,
    )
