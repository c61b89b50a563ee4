"""The commit page (every result against the parent) and the comparison of any two commits."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template

from dashboard.errors import ApiError
from dashboard.params import text_arg
from dashboard.reproduce import reproduce_command
from dashboard.stats import Comparison, compare_samples
from dashboard.store import get_session
from db.models import Commit, Host, Repository
from db.queries.common import find_commit, resolve_repository
from db.queries.compare import CommitJob, CommitResult, commit_jobs, commit_results, parent_commit

bp = Blueprint("commits", __name__)


@dataclass(frozen=True)
class ComparedRow:
    head: CommitResult
    base: CommitResult | None
    comparison: Comparison | None
    reproduce: str


@dataclass(frozen=True)
class CommitComparison:
    repository: Repository
    head: Commit
    base: Commit | None
    rows: list[ComparedRow]
    jobs: list[CommitJob]
    hosts: list[Host]


def _repository() -> Repository:
    name = text_arg("repository")
    repository = resolve_repository(get_session(), name)
    if repository is None:
        raise ApiError(404, f"repository {name!r} is not registered" if name else "no repository is registered")
    return repository


def _commit(repository: Repository, sha: str, what: str) -> Commit:
    commit = find_commit(get_session(), repository.id, sha)
    if commit is None:
        raise ApiError(404, f"{what} {sha[:60]!r} is not a known commit of {repository.full_name} "
                            "(give a full sha or an unambiguous prefix of 7+ hex characters)")
    return commit


def compare(repository: Repository, head: Commit, base: Commit | None) -> CommitComparison:
    session = get_session()
    head_results = commit_results(session, head.id)
    base_by_key = {r.key: r for r in commit_results(session, base.id)} if base is not None else {}
    rows = []
    for result in head_results:
        before = base_by_key.get(result.key)
        comparison = None
        if before is not None and before.samples and result.samples:
            comparison = compare_samples(before.samples, result.samples)
        rows.append(ComparedRow(
            head=result, base=before, comparison=comparison,
            reproduce=reproduce_command(repository.clone_url, head.sha, result.benchmark, result.host),
        ))
    hosts = {r.host.id: r.host for r in head_results}
    jobs = commit_jobs(session, head.id)
    for job in jobs:
        if job.host is not None:
            hosts.setdefault(job.host.id, job.host)
    return CommitComparison(
        repository=repository, head=head, base=base, rows=rows, jobs=jobs,
        hosts=sorted(hosts.values(), key=lambda h: h.name),
    )


def load_commit_page(sha: str) -> CommitComparison:
    repository = _repository()
    head = _commit(repository, sha, "commit")
    return compare(repository, head, parent_commit(get_session(), head))


def load_compare_page() -> CommitComparison:
    repository = _repository()
    base_sha, head_sha = text_arg("base"), text_arg("head")
    if not base_sha or not head_sha:
        raise ApiError(400, "parameters 'base' and 'head' (commit shas) are required")
    return compare(repository, _commit(repository, head_sha, "head"), _commit(repository, base_sha, "base"))


@bp.get("/commit/<sha>")
def commit_page(sha: str):  # type: ignore[no-untyped-def]
    return render_template("commit.html", view=load_commit_page(sha), title="Commit")


@bp.get("/compare")
def compare_page():  # type: ignore[no-untyped-def]
    return render_template("commit.html", view=load_compare_page(), title="Compare")
