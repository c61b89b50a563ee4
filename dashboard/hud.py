"""The HUD, the home page: a branch's commits against every benchmark, coloured by verdict.

The server renders the filters, the columns and one row per commit; each row carries its cells
packed as text (``data-cells``, see :mod:`db.queries.hud`) and ``static/hud.js`` draws them.
A 100 x 200 grid is 20,000 cells: formatting them here cost several times every query of the
page together, and the packed rows are smaller than the table they become.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from flask import Blueprint, render_template, url_for
from sqlalchemy import select

from dashboard.errors import ApiError
from dashboard.params import page_arg, text_arg
from dashboard.series import commit_link
from dashboard.settings_access import settings
from dashboard.store import get_session
from db.models import Benchmark, Host, Repository
from db.queries.common import list_repositories, resolve_host, resolve_repository
from db.queries.hud import HudFilters, HudGrid, list_branches, load_hud

bp = Blueprint("hud", __name__)

HUD_PAGE_SIZE = 100


@dataclass(frozen=True)
class HudPage:
    repository: Repository
    branch: str
    host: Host
    suite: str | None
    variant: str | None
    precision: str | None
    grid: HudGrid
    repositories: list[str]
    branches: list[str]
    hosts: list[str]
    suites: tuple[str, ...]
    variants: list[str]
    precisions: list[str]


def load_hud_page(*, packed: bool = False) -> HudPage | None:
    """The HUD for the request's filters; None when the store has no repository or host yet.

    ``packed``: the cells as the page's script reads them (see :func:`db.queries.hud.load_hud`).
    """
    session = get_session()
    repo_name, host_name = text_arg("repository"), text_arg("host")
    repository = resolve_repository(session, repo_name)
    if repository is None:
        if repo_name:
            raise ApiError(404, f"repository {repo_name!r} is not registered")
        return None
    host = resolve_host(session, host_name)
    if host is None:
        if host_name:
            raise ApiError(404, f"host {host_name!r} is not known")
        return None
    branch = text_arg("branch") or repository.default_branch
    filters = HudFilters(
        repository_id=repository.id,
        branch=branch,
        host_id=host.id,
        suite=text_arg("suite"),
        variant=text_arg("variant"),
        precision=text_arg("precision"),
        page=page_arg(HUD_PAGE_SIZE),
    )
    return HudPage(
        repository=repository, branch=branch, host=host, suite=filters.suite, variant=filters.variant,
        precision=filters.precision, grid=load_hud(session, filters, packed=packed),
        repositories=[r.full_name for r in list_repositories(session)],
        branches=list_branches(session, repository.id),
        hosts=list(session.scalars(select(Host.name).order_by(Host.name))),
        suites=settings().suites,
        variants=list(session.scalars(select(Benchmark.variant).distinct().order_by(Benchmark.variant))),
        precisions=list(session.scalars(select(Benchmark.precision).distinct().order_by(Benchmark.precision))),
    )


def header_groups(page: HudPage) -> list[tuple[str, int]]:
    """Column groups (family · mode · precision · variant) and how many columns each spans."""
    return [(" · ".join(key), len(list(cols))) for key, cols in groupby(page.grid.columns, key=lambda c: c.group)]


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    page = load_hud_page(packed=True)
    if page is None:
        return render_template("empty.html")
    grid = page.grid
    series_base = url_for(
        "series.series_page", repository=page.repository.full_name, host=page.host.name, branch=page.branch
    )
    commit_url = commit_link(page.repository.full_name)
    rows = [
        (commit, commit_url(commit.sha), grid.packed_cells.get(commit.id, ""), grid.job_state.get(commit.id, ""))
        for commit in grid.commits
    ]
    return render_template("hud.html", page=page, groups=header_groups(page), rows=rows, series_base=series_base)
