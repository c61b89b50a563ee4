"""Benchmark hosts: a core-pinned worker and the facts that make its numbers comparable."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, utcnow


class Host(Base):
    __tablename__ = "host"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    cpu_model: Mapped[str] = mapped_column(String(255), default="")
    isa: Mapped[list[str]] = mapped_column(JSONType, default=list)
    cores: Mapped[str] = mapped_column(String(200), default="")  # the pinned list, e.g. "2-7"
    numa_node: Mapped[int | None] = mapped_column(Integer, nullable=True)
    threads: Mapped[int] = mapped_column(Integer, default=1)
    torch_version: Mapped[str] = mapped_column(String(50), default="")
    kernel: Mapped[str] = mapped_column(String(200), default="")
    governor: Mapped[str | None] = mapped_column(String(50), nullable=True)
    # A hash of the facts above: a series is (repository, benchmark, host fingerprint), so a
    # host whose hardware or pinning changed starts new series instead of a false alarm.
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    current_job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def queue(self) -> str:
        return f"bench.{self.name}"
