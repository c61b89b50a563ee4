"""Plotly figures as plain dicts, built from query results by pure functions.

A dict (``{"data": [...], "layout": {...}}``) is a complete Plotly figure; building it directly
instead of through ``plotly.graph_objects`` skips a validation pass that costs more than the
query for a long series. Tests check the dicts against plotly's own validator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dashboard.cells import STYLES, format_pct
from db.queries.series import Series, SeriesPoint

CHANGE_VERDICTS = ("regression", "improvement", "suspect")


def _x(point: SeriesPoint) -> str:
    return point.sha[:8]


def _spread(points: list[SeriesPoint]) -> tuple[list[float], list[float]]:
    """Distance from each median to the largest and smallest raw sample (error bars)."""
    plus, minus = [], []
    for p in points:
        samples = p.samples or [p.median]
        plus.append(max(samples) - p.median)
        minus.append(p.median - min(samples))
    return plus, minus


def series_figure(series: Series, commit_url: Callable[[str], str]) -> dict[str, Any]:
    """The series chart: medians with the spread of their samples, the baseline variant, change
    points and alerts. ``commit_url(sha)`` gives the link each point opens."""
    bench = series.benchmark
    points = series.points
    plus, minus = _spread(points)
    hover = "<b>%{customdata[1]}</b><br>%{customdata[2]}<br>median %{y:.4g} " + bench.unit + "<br>%{customdata[3]}<extra>%{fullData.name}</extra>"
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": bench.variant,
            "x": [_x(p) for p in points],
            "y": [p.median for p in points],
            "error_y": {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus,
                        "thickness": 1, "width": 0, "color": "#8fa8c8"},
            "marker": {"size": 5, "color": "#1f4e8c"},
            "line": {"width": 1.5, "color": "#1f4e8c"},
            "customdata": [[commit_url(p.sha), p.sha[:8], p.title[:80], _verdict_text(p)] for p in points],
            "hovertemplate": hover,
        }
    ]
    if series.baseline is not None and series.baseline_points:
        base = series.baseline_points
        bplus, bminus = _spread(base)
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"{series.baseline.variant} (baseline)",
                "x": [_x(p) for p in base],
                "y": [p.median for p in base],
                "error_y": {"type": "data", "symmetric": False, "array": bplus, "arrayminus": bminus,
                            "thickness": 1, "width": 0, "color": "#c8c8c8"},
                "marker": {"size": 4, "color": "#7f7f7f"},
                "line": {"width": 1, "color": "#7f7f7f", "dash": "dot"},
                "customdata": [[commit_url(p.sha), p.sha[:8], p.title[:80], _verdict_text(p)] for p in base],
                "hovertemplate": hover,
            }
        )
    changes = [p for p in points if p.verdict in CHANGE_VERDICTS]
    if changes:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "change points",
                "x": [_x(p) for p in changes],
                "y": [p.median for p in changes],
                "marker": {"size": 13, "symbol": "diamond-open", "line": {"width": 2.5},
                           "color": [STYLES[p.verdict][1] for p in changes]},  # type: ignore[index]
                "customdata": [[commit_url(p.sha), p.sha[:8], p.title[:80], _verdict_text(p)] for p in changes],
                "hovertemplate": hover,
            }
        )
    shown = {_x(p) for p in points}
    shapes, annotations = [], []
    for alert in series.alerts:
        x = alert.sha[:8]
        if x not in shown:
            continue
        colour = STYLES["regression" if alert.direction == "regression" else "improvement"][1]
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
                       "line": {"color": colour, "width": 1.5, "dash": "dash"}})
        annotations.append({"x": x, "xref": "x", "yref": "paper", "y": 1.0, "yanchor": "bottom",
                            "text": f"alert {alert.alert_id}: {format_pct(alert.change_pct)} ({alert.state})",
                            "showarrow": False, "font": {"color": colour, "size": 11}})
    layout = {
        "title": {"text": f"{bench.name} on {series.host.name}", "font": {"size": 15}},
        "xaxis": {"title": {"text": f"commit ({series.branch}, oldest to newest)"}, "type": "category",
                  "tickangle": -45, "nticks": 30, "gridcolor": "#eeeeee"},
        "yaxis": {"title": {"text": f"{bench.metric} ({bench.unit}, {bench.direction.value} is better)"}, "gridcolor": "#eeeeee"},
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.3},
        "margin": {"l": 70, "r": 20, "t": 60, "b": 120},
        "shapes": shapes,
        "annotations": annotations,
        "plot_bgcolor": "#ffffff",
    }
    return {"data": data, "layout": layout}


def _verdict_text(p: SeriesPoint) -> str:
    if p.verdict is None:
        return "no verdict yet"
    text = STYLES[p.verdict][2]
    if p.change_pct is not None:
        text += f" {format_pct(p.change_pct)}"
    if p.confidence is not None:
        text += f", confidence {p.confidence:.0%}"
    return text
