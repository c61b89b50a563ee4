"""Alerts and their groups.

An alert names one series (repository, benchmark, host) and the commit suspected of moving
it. Alerts raised by the same push are grouped, so triage sees "this commit moved 14 series on
2 hosts" once instead of 14 times.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, str_enum, UTCDateTime, utcnow
from db.models.benchmark import Benchmark
from db.models.commit import Commit


class AlertState(enum.StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    ACKNOWLEDGED = "acknowledged"
    INVALID = "invalid"
    FIXED = "fixed"


class AlertDirection(enum.StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"



class AlertGroup(Base):
    __tablename__ = "alert_group"
    __table_args__ = (UniqueConstraint("repository_id", "suspect_commit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"))
    suspect_commit_id: Mapped[int] = mapped_column(ForeignKey("commit.id", ondelete="CASCADE"))
    push_id: Mapped[int | None] = mapped_column(ForeignKey("push.id", ondelete="SET NULL"), nullable=True)
    state: Mapped[AlertState] = mapped_column(str_enum(AlertState, "alert_group_state"), default=AlertState.OPEN)
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    suspect_commit: Mapped[Commit] = relationship()
    alerts: Mapped[list["Alert"]] = relationship(back_populates="group", order_by="Alert.id")


class Alert(Base):
    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("benchmark_id", "host_id", "suspect_commit_id"),
        Index("ix_alert_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("alert_group.id", ondelete="CASCADE"))
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"))
    benchmark_id: Mapped[int] = mapped_column(ForeignKey("benchmark.id", ondelete="CASCADE"))
    host_id: Mapped[int] = mapped_column(ForeignKey("host.id", ondelete="CASCADE"))
    suspect_commit_id: Mapped[int] = mapped_column(ForeignKey("commit.id", ondelete="CASCADE"))
    last_good_commit_id: Mapped[int | None] = mapped_column(ForeignKey("commit.id", ondelete="SET NULL"), nullable=True)
    direction: Mapped[AlertDirection] = mapped_column(str_enum(AlertDirection, "alert_direction"))
    change_pct: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    state: Mapped[AlertState] = mapped_column(str_enum(AlertState, "alert_state"), default=AlertState.OPEN)
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    group: Mapped[AlertGroup] = relationship(back_populates="alerts")
    benchmark: Mapped[Benchmark] = relationship()
    suspect_commit: Mapped[Commit] = relationship(foreign_keys=[suspect_commit_id])
    last_good_commit: Mapped[Commit | None] = relationship(foreign_keys=[last_good_commit_id])
