"""Benchmarks and their results.

A result keeps its raw samples: change detection needs the spread, not only the median.
``repository_id``, ``commit_id`` and ``host_id`` are stored on the result (they follow from the
job) so that a series, (repository, benchmark, host), is one indexed range scan.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, str_enum, JSONType, UTCDateTime, utcnow


class Direction(enum.StrEnum):
    LOWER = "lower"  # lower is better (latency, memory)
    HIGHER = "higher"  # higher is better (throughput)


class Verdict(enum.StrEnum):
    """Change detection's verdict on one point of a series; the HUD colours cells by it."""

    NO_CHANGE = "no_change"
    SUSPECT = "suspect"
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"


class Benchmark(Base):
    __tablename__ = "benchmark"
    __table_args__ = (UniqueConstraint("model", "mode", "precision", "variant", "metric"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(100))
    mode: Mapped[str] = mapped_column(String(20))  # eval | train | generate ...
    precision: Mapped[str] = mapped_column(String(20))  # fp32 | bf16 | int8
    variant: Mapped[str] = mapped_column(String(50))  # eager | optlib | compile ...
    metric: Mapped[str] = mapped_column(String(50))  # latency_p50 | throughput ...
    unit: Mapped[str] = mapped_column(String(20))
    direction: Mapped[Direction] = mapped_column(
        str_enum(Direction, "direction", length=10)
    )
    family: Mapped[str] = mapped_column(String(50), default="")  # cnn | transformer | recsys | gnn ...

    @property
    def name(self) -> str:
        """``<model>-<mode>-<precision>-<variant>_<metric>``, the results file's metric key."""
        return f"{self.model}-{self.mode}-{self.precision}-{self.variant}_{self.metric}"


class Result(Base):
    __tablename__ = "result"
    __table_args__ = (
        UniqueConstraint("job_id", "benchmark_id"),
        Index("ix_result_series", "repository_id", "benchmark_id", "host_id", "commit_id"),
        Index("ix_result_commit", "commit_id"),
        # The HUD's cells for a page of commits on one host, answered from the index alone
        # (an index-only scan on PostgreSQL): no visit to the rows and their raw samples.
        Index(
            "ix_result_grid", "commit_id", "host_id",
            postgresql_include=["benchmark_id", "verdict", "change_pct", "median", "confidence", "id"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    benchmark_id: Mapped[int] = mapped_column(ForeignKey("benchmark.id", ondelete="CASCADE"))
    repository_id: Mapped[int] = mapped_column(ForeignKey("repository.id", ondelete="CASCADE"))
    commit_id: Mapped[int] = mapped_column(ForeignKey("commit.id", ondelete="CASCADE"))
    host_id: Mapped[int] = mapped_column(ForeignKey("host.id", ondelete="CASCADE"))
    samples: Mapped[list[float]] = mapped_column(JSONType)
    n: Mapped[int] = mapped_column(Integer)
    median: Mapped[float] = mapped_column(Float)
    mean: Mapped[float] = mapped_column(Float)
    stdev: Mapped[float] = mapped_column(Float)
    p90: Mapped[float] = mapped_column(Float)
    p99: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Change detection's latest word on this point (updated as later points arrive).
    verdict: Mapped[Verdict | None] = mapped_column(
        str_enum(Verdict, "verdict"),
        nullable=True,
    )
    change_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)

    benchmark: Mapped[Benchmark] = relationship()
