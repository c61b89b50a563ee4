"""The HUD, the home page: a branch's commits against every benchmark, coloured by verdict."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from flask import Blueprint, render_template, url_for
from markupsafe import Markup, escape
from sqlalchemy import select

from dashboard.cells import STYLES
from dashboard.errors import ApiError
from dashboard.params import page_arg, text_arg
from dashboard.settings_access import settings
from dashboard.store import get_session
from db.models import Benchmark, Host, Repository
from db.queries.common import list_repositories, resolve_host, resolve_repository
from db.queries.hud import FAILED, PENDING, HudFilters, HudGrid, list_branches, load_hud

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


def load_hud_page() -> HudPage | None:
    """The HUD for the request's filters; None when the store has no repository or host yet."""
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
        precision=filters.precision, grid=load_hud(session, filters),
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


def cells_html(page: HudPage) -> list[Markup]:
    """The cells of each row as ready HTML.

    A 100 x 200 grid is 20,000 cells: rendering them through a template loop costs several
    times the query, so they are written here with f-strings. Everything interpolated is a
    number, a fixed class name, or a unit escaped once per column.
    """
    grid = page.grid
    cells = grid.cells
    columns = [(c.benchmark_id, str(escape(c.unit))) for c in grid.columns]
    empty = {state: f'<td class="{STYLES[state][0]}" title="{STYLES[state][2]}"></td>' for state in (PENDING, FAILED)}
    css = {key: value[0] for key, value in STYLES.items()}
    rows = []
    for commit in grid.commits:
        missing = empty.get(grid.job_state.get(commit.id, ""), "<td></td>")
        row_cells = cells.get(commit.id, {})
        parts = []
        for benchmark_id, unit in columns:
            cell = row_cells.get(benchmark_id)
            if cell is None:
                parts.append(missing)
                continue
            verdict, change, median, confidence = cell[:4]
            text = "" if change is None else f"{change:+.1f}%"
            hover = f"{median:.4g} {unit}" if confidence is None else f"{median:.4g} {unit} · confidence {confidence:.0%}"
            parts.append(f'<td class="{css[verdict or "measured"]}" title="{hover}">{text}</td>')
        rows.append(Markup("".join(parts)))
    return rows


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    page = load_hud_page()
    if page is None:
        return render_template("empty.html")
    series_base = url_for(
        "series.series_page", repository=page.repository.full_name, host=page.host.name, branch=page.branch
    )
    return render_template(
        "hud.html", page=page, groups=header_groups(page), rows=list(zip(page.grid.commits, cells_html(page))), series_base=series_base,
    )
