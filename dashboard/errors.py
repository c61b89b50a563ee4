"""Errors a request can cause, and how they are answered: JSON for the API and the webhook,
an HTML page for the rest. Every message says what was wrong."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    """A client error with the HTTP status to answer it with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/webhooks/"))


def error_response(status: int, message: str) -> Response | tuple[str, int]:
    if wants_json():
        response = jsonify(error=message, status=status)
        response.status_code = status
        return response
    return render_template("error.html", status=status, message=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):  # type: ignore[no-untyped-def]
        return error_response(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        message = exc.description or exc.name
        if exc.code == 413:
            limit = request.max_content_length
            message = f"request body too large; the limit is {limit} bytes" if limit else message
        response = error_response(exc.code or 500, message)
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            resp = response if isinstance(response, Response) else app.make_response(response)
            resp.headers["Allow"] = ", ".join(exc.valid_methods)
            return resp
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error; the server log has the details")
