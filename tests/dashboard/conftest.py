"""Fixtures for the dashboard: an app over this test's fresh store, and the seeded store."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from dashboard import create_app
from perfhud.settings import Settings, hash_token
from tests.dashboard.seed_data import API_TOKEN, WEBHOOK_SECRET, Seed, seed_store


@pytest.fixture
def dash_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        PERFHUD_WEBHOOK_SECRET=WEBHOOK_SECRET,
        PERFHUD_API_TOKENS=hash_token(API_TOKEN),
        PERFHUD_ALLOWED_REPOS="",
        PERFHUD_WEBHOOK_MAX_BODY=str(64 * 1024),
    )


@pytest.fixture
def app(dash_settings: Settings) -> Flask:
    app = create_app(dash_settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def seeded(session_factory: sessionmaker[Session]) -> Seed:
    return seed_store(session_factory)


