"""Benchmark jobs, which double as the outbox.

A job row is committed before any broker message exists; ``published_at`` records when its
message was last sent, and a sweeper re-publishes queued jobs whose message is stale. A broker
outage therefore delays work but never loses it.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, str_enum, JSONType, UTCDateTime, utcnow
from db.models.commit import Commit


class JobKind(enum.StrEnum):
    REGULAR = "regular"
    CONFIRM = "confirm"
    BISECT = "bisect"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)



class Job(Base):
    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_status_queued", "status", "queued_at"),
        Index("ix_job_commit", "commit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    commit_id: Mapped[int] = mapped_column(ForeignKey("commit.id", ondelete="CASCADE"))
    suite: Mapped[str] = mapped_column(String(50))
    kind: Mapped[JobKind] = mapped_column(str_enum(JobKind, "job_kind"), default=JobKind.REGULAR)
    status: Mapped[JobStatus] = mapped_column(str_enum(JobStatus, "job_status"), default=JobStatus.QUEUED)
    # The queue the job must run on: "bench.any" or "bench.<host>" (confirmations stay on the
    # host that saw the suspect change).
    queue: Mapped[str] = mapped_column(String(120), default="bench.any")
    host_id: Mapped[int | None] = mapped_column(ForeignKey("host.id", ondelete="SET NULL"), nullable=True)
    # Makes job creation idempotent: one regular job per (commit, suite, queue), one
    # confirmation per alert, and so on. Null for jobs that may repeat (manual re-runs).
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    # What a confirm/bisect job is about: e.g. {"alert_id": 3, "parent_sha": "..."}.
    params: Mapped[dict] = mapped_column(JSONType, default=dict)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_tail: Mapped[str | None] = mapped_column(Text, nullable=True)
    command: Mapped[str | None] = mapped_column(Text, nullable=True)  # what ran, for reproduction
    # The host's fingerprint when the job ran: a series only compares results of equal
    # fingerprints, so re-pinning a host or upgrading its kernel starts new series.
    host_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What the job found beyond its results: benchmarks that failed, a confirmation's
    # per-series verdicts, the commit a bisection named.
    summary: Mapped[dict | None] = mapped_column(JSONType, nullable=True)

    commit: Mapped[Commit] = relationship()
