"""Reading query-string parameters the same way for a page and its API route.

Bad values raise :class:`ApiError` (400) naming the parameter and what it accepts.
"""

from __future__ import annotations

from flask import request

from dashboard.errors import ApiError
from db.queries.common import MAX_PER_PAGE, Page

MAX_PARAM_LEN = 255


def text_arg(name: str) -> str | None:
    value = request.args.get(name)
    if value is None or value.strip() == "":
        return None
    if len(value) > MAX_PARAM_LEN:
        raise ApiError(400, f"parameter {name!r} is longer than {MAX_PARAM_LEN} characters")
    if "\x00" in value:
        raise ApiError(400, f"parameter {name!r} contains a NUL character")
    return value.strip()


def int_arg(name: str, default: int | None = None, *, minimum: int = 1, maximum: int = 2**31 - 1) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"parameter {name!r} must be a whole number, got {raw[:40]!r}") from None
    if not minimum <= value <= maximum:
        raise ApiError(400, f"parameter {name!r} must be between {minimum} and {maximum}, got {value}")
    return value


def page_arg(default_size: int = 50) -> Page:
    number = int_arg("page", 1, maximum=1_000_000)
    size = int_arg("per_page", default_size, maximum=MAX_PER_PAGE)
    assert number is not None and size is not None
    return Page(number, size)
