"""The HUD grid: a branch's commits (rows) against benchmarks (columns) on one host.

Three narrow queries instead of one wide join: the page of commits, the columns, then only the
result columns the cells show for those commits on that host (on PostgreSQL an index-only scan
of ``ix_result_grid``). A 100-commit page over 200 benchmarks is 20,000 cells; fetching whole
ORM rows with their raw samples would cost more than everything else together, and even
formatting 20,000 plain rows in Python costs several times the query: the page therefore gets
its cells packed as text by the database, one string per commit, which the browser draws,
while the JSON API gets them typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import String, and_, cast, func, literal, or_, select, type_coerce
from sqlalchemy.orm import Session

from db.models import Benchmark, Commit, Job, JobStatus, Push, PushCommit, Result
from db.queries.common import Page, id_list

# What a cell without a result shows, from the commit's jobs on this host.
PENDING = "pending"  # a job is queued or running
FAILED = "failed"  # a job failed and none is pending


@dataclass(frozen=True)
class HudFilters:
    repository_id: int
    branch: str
    host_id: int
    suite: str | None = None
    variant: str | None = None
    precision: str | None = None
    page: Page = Page(1, 100)


@dataclass(frozen=True)
class HudCommit:
    id: int
    sha: str
    title: str
    author: str
    committed_at: datetime | None

    @property
    def short_sha(self) -> str:
        return self.sha[:8]


@dataclass(frozen=True)
class HudColumn:
    benchmark_id: int
    family: str
    model: str
    mode: str
    precision: str
    variant: str
    metric: str
    unit: str

    @property
    def group(self) -> tuple[str, str, str, str]:
        """Columns are grouped by model family, mode, precision and variant."""
        return (self.family or "other", self.mode, self.precision, self.variant)


class HudCell(NamedTuple):
    """One cell's result. A page holds tens of thousands of cells, so the rows the query
    returns are kept as they are (same fields, same order) instead of being copied."""

    verdict: str | None  # a Verdict value, or None when change detection has not spoken yet
    change_pct: float | None
    median: float
    confidence: float | None


# The page's cells leave the database packed as text, one string per commit: cells separated
# by CELL_SEP, each the PACKED_FIELDS joined by FIELD_SEP, an empty field for a missing value.
# Every field is a number or a verdict name, so neither separator can occur inside one.
PACKED_FIELDS = ("benchmark_id", "result_id", "verdict", "change_pct", "median", "confidence")
CELL_SEP = ";"
FIELD_SEP = ","


@dataclass(frozen=True)
class HudGrid:
    """The grid: its rows, its columns, and its cells in one of two forms.

    ``cells`` (typed, for the JSON API) holds one :class:`HudCell` per (commit, benchmark), the
    newest result winning. ``packed_cells`` (for the page, drawn by the browser) holds one string
    per commit in the packed format above, every result of the commit included (a re-run's cell
    appears twice; the larger ``result_id`` wins). Which one is filled depends on ``load_hud``'s
    ``packed`` argument.
    """

    commits: list[HudCommit]
    columns: list[HudColumn]
    job_state: dict[int, str]  # commit_id -> PENDING | FAILED, for commits whose cells may lack results
    total_commits: int
    page: Page
    cells: dict[int, dict[int, HudCell]] = field(default_factory=dict)  # commit_id -> benchmark_id -> cell
    packed_cells: dict[int, str] = field(default_factory=dict)  # commit_id -> packed cells


def branch_commit_ids(repository_id: int, branch: str):  # type: ignore[no-untyped-def]
    """A subquery of the ids of commits pushed to ``branch``."""
    return (
        select(PushCommit.commit_id)
        .join(Push, Push.id == PushCommit.push_id)
        .where(Push.repository_id == repository_id, Push.branch == branch)
    )


def list_branches(session: Session, repository_id: int) -> list[str]:
    return list(session.scalars(select(Push.branch).where(Push.repository_id == repository_id).distinct().order_by(Push.branch)))


def hud_columns(session: Session, variant: str | None = None, precision: str | None = None) -> list[HudColumn]:
    query = select(
        Benchmark.id, Benchmark.family, Benchmark.model, Benchmark.mode, Benchmark.precision,
        Benchmark.variant, Benchmark.metric, Benchmark.unit,
    )
    if variant:
        query = query.where(Benchmark.variant == variant)
    if precision:
        query = query.where(Benchmark.precision == precision)
    query = query.order_by(
        Benchmark.family, Benchmark.mode, Benchmark.precision, Benchmark.variant, Benchmark.model, Benchmark.metric
    )
    return [HudColumn(*row) for row in session.execute(query)]


def hud_commits(session: Session, repository_id: int, branch: str, page: Page) -> tuple[list[HudCommit], int]:
    in_branch = Commit.id.in_(branch_commit_ids(repository_id, branch))
    total = session.scalar(select(func.count()).select_from(Commit).where(in_branch)) or 0
    rows = session.execute(
        select(Commit.id, Commit.sha, Commit.message, Commit.author, Commit.committed_at)
        .where(in_branch)
        .order_by(Commit.committed_at.desc().nulls_last(), Commit.id.desc())
        .offset(page.offset)
        .limit(page.size)
    )
    commits = [
        HudCommit(id=r.id, sha=r.sha, title=(r.message or "").split("\n", 1)[0], author=r.author, committed_at=r.committed_at)
        for r in rows
    ]
    return commits, total


def _cells_scope(query, filters: HudFilters, commit_ids: list[int], columns: list[HudColumn]):  # type: ignore[no-untyped-def]
    """Restrict a query on ``result`` to the grid's commits, host, columns and suite."""
    query = query.where(Result.commit_id.in_(id_list(commit_ids)), Result.host_id == filters.host_id)
    if filters.variant or filters.precision:
        query = query.where(Result.benchmark_id.in_(id_list([c.benchmark_id for c in columns])))
    if filters.suite:
        query = query.join(Job, Job.id == Result.job_id).where(Job.suite == filters.suite)
    return query


def _typed_cells(
    session: Session, filters: HudFilters, commit_ids: list[int], columns: list[HudColumn]
) -> dict[int, dict[int, HudCell]]:
    # One query per page, not per commit. Executed on the Core connection: the ORM's row
    # processing would cost more than the query for 20,000 rows. verdict is read as its stored
    # string (converting every value to the enum costs more than the query). No ORDER BY (a
    # sort of the whole page): a re-run's newer result replaces the older one here instead.
    query = _cells_scope(
        select(
            type_coerce(Result.verdict, String).label("verdict"), Result.change_pct, Result.median,
            Result.confidence, Result.commit_id, Result.benchmark_id, Result.id,
        ),
        filters, commit_ids, columns,
    )
    cells: dict[int, dict[int, HudCell]] = {commit_id: {} for commit_id in commit_ids}
    for row in session.connection().execute(query):
        row_cells = cells[row[4]]
        older = row_cells.get(row[5])
        if older is None or older[6] < row[6]:  # type: ignore[misc]  # the Row carries the result id last
            row_cells[row[5]] = row  # type: ignore[assignment]  # a Row with HudCell's fields first
    return cells


def _as_text(column):  # type: ignore[no-untyped-def]
    return func.coalesce(cast(column, String), "")


def _packed_cells(
    session: Session, filters: HudFilters, commit_ids: list[int], columns: list[HudColumn]
) -> dict[int, str]:
    # The database formats and joins the cells (in C, one string per commit): 20,000 cells
    # fetched as rows and formatted in Python cost several times the whole page.
    sep = literal(FIELD_SEP)
    cell = (
        cast(Result.benchmark_id, String) + sep + cast(Result.id, String) + sep
        + _as_text(type_coerce(Result.verdict, String)) + sep + _as_text(Result.change_pct) + sep
        + _as_text(Result.median) + sep + _as_text(Result.confidence)
    )
    query = _cells_scope(
        select(Result.commit_id, func.aggregate_strings(cell, CELL_SEP)), filters, commit_ids, columns
    ).group_by(Result.commit_id)
    return {commit_id: packed for commit_id, packed in session.connection().execute(query)}


def load_hud(session: Session, filters: HudFilters, *, packed: bool = False) -> HudGrid:
    """The grid for ``filters``: typed ``cells``, or ``packed_cells`` when ``packed``."""
    commits, total = hud_commits(session, filters.repository_id, filters.branch, filters.page)
    columns = hud_columns(session, filters.variant, filters.precision)
    commit_ids = [c.id for c in commits]
    cells: dict[int, dict[int, HudCell]] = {}
    packed_cells: dict[int, str] = {}
    job_state: dict[int, str] = {}
    if commit_ids and columns:
        if packed:
            packed_cells = _packed_cells(session, filters, commit_ids, columns)
        else:
            cells = _typed_cells(session, filters, commit_ids, columns)
        job_state = _job_states(session, commit_ids, filters.host_id, filters.suite)
    return HudGrid(commits=commits, columns=columns, job_state=job_state, total_commits=total, page=filters.page,
                   cells=cells, packed_cells=packed_cells)


def _job_states(session: Session, commit_ids: list[int], host_id: int, suite: str | None) -> dict[int, str]:
    """Per commit: pending if a job that may run on this host is queued or running, else failed
    if one failed here; commits whose jobs all succeeded are left out."""
    query = select(Job.commit_id, Job.status).where(
        Job.commit_id.in_(id_list(commit_ids)),
        or_(Job.host_id == host_id, and_(Job.host_id.is_(None), Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))),
        Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED]),
    )
    if suite:
        query = query.where(Job.suite == suite)
    states: dict[int, str] = {}
    for commit_id, status in session.execute(query):
        if status in (JobStatus.QUEUED, JobStatus.RUNNING):
            states[commit_id] = PENDING
        else:
            states.setdefault(commit_id, FAILED)
    return states
