"""Static assets that come from installed packages rather than this repository.

plotly.js ships inside the plotly Python package; serving that file keeps the dashboard
working offline and its chart library in step with the installed plotly.
"""

from __future__ import annotations

from importlib.resources import files

from flask import Blueprint, Response, request

bp = Blueprint("assets", __name__)

_CACHE_SECONDS = 7 * 24 * 3600


def plotly_js_bytes() -> bytes:
    return (files("plotly") / "package_data" / "plotly.min.js").read_bytes()


_plotly_js: bytes | None = None


@bp.get("/vendor/plotly.min.js")
def plotly_js():  # type: ignore[no-untyped-def]
    global _plotly_js
    if _plotly_js is None:
        _plotly_js = plotly_js_bytes()
    response = Response(_plotly_js, mimetype="application/javascript")
    response.cache_control.public = True
    response.cache_control.max_age = _CACHE_SECONDS
    response.add_etag()
    return response.make_conditional(request)
