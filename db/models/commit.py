"""Commits and the pushes that brought them.

A commit can reach several branches; the HUD shows a branch's commits through the pushes to
it, and alerts are grouped per push ("this push moved 14 series").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, JSONType, UTCDateTime, utcnow
from db.models.repository import Repository


class Commit(Base):
    __tablename__ = "commit"
    __table_args__ = (
        UniqueConstraint("repository_id", "sha"),
        Index("ix_commit_repository_committed", "repository_id", "committed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"))
    sha: Mapped[str] = mapped_column(String(40))
    parents: Mapped[list[str]] = mapped_column(JSONType, default=list)
    author: Mapped[str] = mapped_column(String(255), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    repository: Mapped[Repository] = relationship()

    @property
    def title(self) -> str:
        return self.message.split("\n", 1)[0]

    @property
    def short_sha(self) -> str:
        return self.sha[:8]


class Push(Base):
    """One push (or pull-request update, or backfill request) to a branch."""

    __tablename__ = "push"
    __table_args__ = (Index("ix_push_repository_branch", "repository_id", "branch"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"))
    branch: Mapped[str] = mapped_column(String(255))
    before_sha: Mapped[str | None] = mapped_column(String(40), nullable=True)
    after_sha: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))  # push | pull_request | backfill | demo
    delivery_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    pull_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    repository: Mapped[Repository] = relationship()


class PushCommit(Base):
    """Which commits a push carried, in order (position 0 is the oldest)."""

    __tablename__ = "push_commit"
    __table_args__ = (Index("ix_push_commit_commit", "commit_id"),)

    push_id: Mapped[int] = mapped_column(ForeignKey("push.id", ondelete="CASCADE"), primary_key=True)
    commit_id: Mapped[int] = mapped_column(ForeignKey("commit.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
