"""Filters and globals the templates use; formatting only, no data access."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from dashboard.cells import STYLES, format_pct


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


def _num(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def register_template_helpers(app: Flask) -> None:
    app.add_template_filter(_when, "when")
    app.add_template_filter(format_pct, "pct")
    app.add_template_filter(_num, "num")
    app.add_template_global(STYLES, "verdict_styles")
