"""Fuzz the API from its own OpenAPI document (schemathesis): no input may cause a server error.

Runs against the seeded store on SQLite and with a valid token, so writes get past
authentication and their bodies are what is exercised. The same run from the command line:
``schemathesis run http://127.0.0.1:8000/api/v1/openapi.json --checks not_a_server_error``.
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings

from tests.dashboard.seed_data import API_TOKEN, Seed

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_api_never_answers_with_a_server_error(app: Flask, seeded: Seed) -> None:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(
                headers={"Authorization": f"Bearer {API_TOKEN}"},
                checks=[not_a_server_error, status_code_conformance, content_type_conformance],
            )

        call()
