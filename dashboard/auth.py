"""Bearer tokens for writes. Tokens are stored hashed (see ``perfhud token new``)."""

from __future__ import annotations

from flask import request

from dashboard.errors import ApiError
from dashboard.settings_access import settings


def require_token() -> str:
    """Return the caller's token if valid; otherwise raise a 401 naming what was missing."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "this write needs 'Authorization: Bearer <token>'")
    if not settings().token_valid(token.strip()):
        raise ApiError(401, "the bearer token is not valid")
    return token.strip()


def token_label(token: str) -> str:
    """Who made a change, without storing the token: the first characters of its hash."""
    from perfhud.settings import hash_token

    return "token:" + hash_token(token).split(":", 1)[1][:10]
