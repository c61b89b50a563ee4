"""The JSON API, ``/api/v1``: everything the pages show, paged, plus the writes (with a token).

Reads reuse the pages' loaders, so a page and its API route cannot disagree. Errors are JSON
``{"error": "<what was wrong>", "status": <code>}``.
"""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from dashboard.api import openapi, reads, writes  # noqa: E402,F401  (routes register on import)
