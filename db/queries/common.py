"""Look-ups every page needs: a repository, a host or a commit by the name a URL carries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.orm import Session

from db.models import Commit, Host, Repository

MAX_PER_PAGE = 500


@dataclass(frozen=True)
class Page:
    """A validated page request: 1-based ``number`` and ``size`` rows per page."""

    number: int = 1
    size: int = 50

    def __post_init__(self) -> None:
        if self.number < 1:
            raise ValueError(f"page must be >= 1, got {self.number}")
        if not 1 <= self.size <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {self.size}")

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def list_repositories(session: Session) -> list[Repository]:
    return list(session.scalars(select(Repository).order_by(Repository.full_name)))


def resolve_repository(session: Session, full_name: str | None) -> Repository | None:
    """The repository named ``full_name``, or the first enabled one when no name is given."""
    if full_name:
        return session.scalars(select(Repository).where(Repository.full_name == full_name.lower())).one_or_none()
    return session.scalars(
        select(Repository).order_by(Repository.enabled.desc(), Repository.full_name).limit(1)
    ).first()


def resolve_host(session: Session, name: str | None) -> Host | None:
    """The host called ``name``, or the first host by name when none is given."""
    if name:
        return session.scalars(select(Host).where(Host.name == name)).one_or_none()
    return session.scalars(select(Host).order_by(Host.name).limit(1)).first()


def find_commit(session: Session, repository_id: int, sha: str) -> Commit | None:
    """A commit by its full sha or an unambiguous prefix of at least 7 characters."""
    sha = sha.lower()
    if len(sha) == 40:
        return session.scalars(
            select(Commit).where(Commit.repository_id == repository_id, Commit.sha == sha)
        ).one_or_none()
    if len(sha) < 7 or any(ch not in "0123456789abcdef" for ch in sha):
        return None
    matches = list(
        session.scalars(
            select(Commit).where(Commit.repository_id == repository_id, Commit.sha.startswith(sha)).limit(2)
        )
    )
    return matches[0] if len(matches) == 1 else None


def id_list(ids: Sequence[int]) -> BindParameter[list[int]]:
    """``ids`` for an ``IN``, rendered into the SQL as numbers rather than one bound parameter
    each: a page's hundreds of ids otherwise cost more to bind than the query takes to run."""
    values = [int(i) for i in ids]  # only integers are ever rendered into SQL text
    return bindparam("ids", values, expanding=True, literal_execute=True, unique=True)
