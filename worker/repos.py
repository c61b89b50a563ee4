"""Registering repositories: only a registered repository is ever fetched."""

from __future__ import annotations

import re

from sqlalchemy import select

from db.ingest import get_repository
from db.models import Repository
from db.session import run_in_transaction
from perfhud.settings import Settings
from worker.gitrepo import validate_clone_url, validate_ref
from worker.store_access import session_factory

_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def validate_full_name(full_name: str) -> str:
    if not isinstance(full_name, str) or not _FULL_NAME.match(full_name) or ".." in full_name:
        raise ValueError(f"bad repository name {str(full_name)[:100]!r}; expected OWNER/NAME")
    return full_name.lower()


def add_repository(settings: Settings, full_name: str, clone_url: str, default_branch: str = "main") -> int:
    """Register (or update) ``full_name``; return its id. Idempotent."""
    name = validate_full_name(full_name)
    validate_clone_url(clone_url)
    validate_ref(default_branch)
    if not settings.repo_allowed(name):
        raise ValueError(f"{name} is not in PERFHUD_ALLOWED_REPOS")

    def work(session) -> int:  # type: ignore[no-untyped-def]
        repo = get_repository(session, name)
        if repo is None:
            repo = Repository(full_name=name, clone_url=clone_url, default_branch=default_branch, enabled=True)
            session.add(repo)
        else:
            repo.clone_url = clone_url
            repo.default_branch = default_branch
            repo.enabled = True
        session.flush()
        return repo.id

    return run_in_transaction(session_factory(settings.database_url), work)


def list_repositories(settings: Settings) -> list[Repository]:
    def work(session) -> list[Repository]:  # type: ignore[no-untyped-def]
        return list(session.scalars(select(Repository).order_by(Repository.full_name)))

    return run_in_transaction(session_factory(settings.database_url), work)
