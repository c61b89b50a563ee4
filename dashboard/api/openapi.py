"""The OpenAPI 3.0 document of ``/api/v1``, served at ``/api/v1/openapi.json``.

Written by hand next to the routes it describes; a test walks the app's URL map and fails if a
route is missing here, and a schemathesis run checks the routes against it.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify

from dashboard.api import bp
from db.models import AlertState
from db.queries.common import MAX_PER_PAGE

INT32_MAX = 2147483647


def _str_param(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": "string", "maxLength": 255}}


def _int_param(name: str, description: str, *, where: str = "query", required: bool = False,
               maximum: int = INT32_MAX) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "description": description,
            "schema": {"type": "integer", "minimum": 1, "maximum": maximum}}


PAGING = [
    _int_param("page", "1-based page number", maximum=1_000_000),
    _int_param("per_page", f"rows per page (at most {MAX_PER_PAGE})", maximum=MAX_PER_PAGE),
]
REPOSITORY = _str_param("repository", "OWNER/NAME; default: the first registered repository")
ERROR = {"description": "what was wrong",
         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
AUTH = [{"bearer": []}]


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def _get(summary: str, params: list[dict[str, Any]], ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": params,
                    "responses": {"200": ok, **{str(code): ERROR for code in errors}}}}


TRIAGE_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "state": {"type": "string", "enum": [s.value for s in AlertState]},
            "assignee": {"type": "string", "maxLength": 100},
            "notes": {"type": "string", "maxLength": 10000},
        },
    }}},
}


def document() -> dict[str, Any]:
    sha = {"name": "sha", "in": "path", "required": True, "description": "full sha or a unique prefix (7+ hex)",
           "schema": {"type": "string", "maxLength": 40}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "perfhud API", "version": "1",
                 "description": "Everything the dashboard shows, as JSON. Writes need 'Authorization: Bearer <token>'."},
        "paths": {
            "/api/v1/repositories": _get("Registered repositories", [], _ok("repositories")),
            "/api/v1/benchmarks": _get("Benchmarks, paged", PAGING, _ok("a page of benchmarks"), 400),
            "/api/v1/hud": _get(
                "The HUD grid: a branch's commits against benchmarks on one host",
                [REPOSITORY, _str_param("branch", "default: the repository's default branch"),
                 _str_param("host", "default: the first host by name"), _str_param("suite", "only jobs of this suite"),
                 _str_param("variant", "only this variant"), _str_param("precision", "only this precision"), *PAGING],
                _ok("the grid"), 400, 404),
            "/api/v1/series": _get(
                "One benchmark's series on one host",
                [REPOSITORY, _int_param("benchmark", "benchmark id", required=True),
                 _str_param("host", "default: the first host by name"), _str_param("branch", "default branch if absent"),
                 _int_param("limit", "newest points to return", maximum=5000)],
                _ok("the series"), 400, 404),
            "/api/v1/commits/{sha}": _get("A commit's results against its parent", [sha, REPOSITORY],
                                          _ok("the commit"), 400, 404),
            "/api/v1/compare": _get(
                "Any two commits compared",
                [REPOSITORY, _str_param("base", "base sha", required=True), _str_param("head", "head sha", required=True)],
                _ok("the comparison"), 400, 404),
            "/api/v1/alert-groups": _get(
                "Alert groups, newest first",
                [REPOSITORY, {"name": "state", "in": "query", "required": False,
                              "schema": {"type": "string", "enum": [s.value for s in AlertState]}}, *PAGING],
                _ok("a page of alert groups"), 400, 404),
            "/api/v1/alert-groups/{group_id}": {
                **_get("One alert group", [_int_param("group_id", "alert group id", where="path")],
                       _ok("the group"), 404),
                "patch": {"summary": "Triage an alert group (its state applies to all its alerts)",
                          "security": AUTH,
                          "parameters": [_int_param("group_id", "alert group id", where="path")],
                          "requestBody": TRIAGE_BODY,
                          "responses": {"200": _ok("the group after the change"), "400": ERROR, "401": ERROR,
                                        "404": ERROR}},
            },
            "/api/v1/alerts/{alert_id}": {
                "patch": {"summary": "Triage one alert", "security": AUTH,
                          "parameters": [_int_param("alert_id", "alert id", where="path")],
                          "requestBody": TRIAGE_BODY,
                          "responses": {"200": _ok("the alert after the change"), "400": ERROR, "401": ERROR,
                                        "404": ERROR}},
            },
            "/api/v1/hosts": _get("Hosts, their current job and queue depth", [], _ok("hosts")),
            "/api/v1/jobs/{job_id}": _get("One job", [_int_param("job_id", "job id", where="path")], _ok("the job"), 404),
            "/api/v1/jobs/{job_id}/rerun": {
                "post": {"summary": "Queue a copy of a finished job", "security": AUTH,
                         "parameters": [_int_param("job_id", "job id", where="path")],
                         "responses": {"201": _ok("the new job"), "401": ERROR, "404": ERROR, "409": ERROR}},
            },
            "/api/v1/results": {
                "post": {"summary": "Upload a results file measured by an external runner", "security": AUTH,
                         "parameters": [
                             _str_param("repository", "OWNER/NAME", required=True),
                             {"name": "sha", "in": "query", "required": True, "description": "the measured commit",
                              "schema": {"type": "string", "pattern": "^[0-9a-f]{40}$"}},
                             _str_param("host", "the runner's host name", required=True),
                             _str_param("suite", "the suite that was run; default: the first configured"),
                         ],
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                         "responses": {"201": _ok("the job recorded and the results stored, change detection run "
                                                   "on them"), "400": ERROR, "401": ERROR, "404": ERROR,
                                       "413": ERROR}},
            },
        },
        "components": {
            "schemas": {"Error": {"type": "object", "required": ["error", "status"],
                                  "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.get("/openapi.json")
def openapi_document():  # type: ignore[no-untyped-def]
    return jsonify(document())
