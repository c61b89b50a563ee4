"""Shared fixtures: real PostgreSQL, real Redis, real SQLite files.

Every test gets its own store: a fresh database cloned from a migrated template (PostgreSQL's
``CREATE DATABASE ... TEMPLATE`` and a file copy for SQLite), so tests never see each other's
rows and the migrations themselves are what built the schema. Outside CI a missing server skips
the tests that need it, with a message naming it; with ``CI=true`` it fails them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from db.migrate import upgrade
from db.session import make_engine, make_session_factory
from perfhud.settings import Settings, load_settings, normalize_database_url

TEST_DATABASE_URL = os.environ.get("PERFHUD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("PERFHUD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_missing(name: str, variable: str, url: str, error: BaseException) -> None:
    """Skip (or, under CI, fail) a test whose service does not answer."""
    message = f"{name} not reachable at {url} ({variable}): {error}"
    if IN_CI:
        pytest.fail(f"CI requires {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session", autouse=True)
def _private_optlib_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """optlib's tuning choices (also those of benchmark subprocesses) go to this session's own
    folder, never to the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPTLIB_CACHE_DIR", str(tmp_path_factory.mktemp("optlib-cache")))
        yield


# --------------------------------------------------------------------------- PostgreSQL


def _admin_engine() -> sa.Engine:
    url = make_url(normalize_database_url(TEST_DATABASE_URL, "PERFHUD_TEST_DATABASE_URL"))
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[str | BaseException]:
    """A migrated template database for this test session, or the error that prevented it."""
    name = f"perfhud_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = _admin_engine()
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server"
        yield exc
        return
    url = make_url(normalize_database_url(TEST_DATABASE_URL)).set(database=name).render_as_string(False)
    try:
        upgrade(url)
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(_postgres_template: str | BaseException) -> Iterator[str]:
    """A fresh, migrated, empty PostgreSQL database for one test."""
    if isinstance(_postgres_template, BaseException):
        service_missing("PostgreSQL", "PERFHUD_TEST_DATABASE_URL", TEST_DATABASE_URL, _postgres_template)
    name = f"perfhud_t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{_postgres_template}"'))
    try:
        yield make_url(normalize_database_url(TEST_DATABASE_URL)).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --------------------------------------------------------------------------- SQLite


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path.as_posix()}")
    return path


@pytest.fixture
def sqlite_url(_sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh, migrated, empty SQLite file for one test."""
    path = tmp_path / "perfhud.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path.as_posix()}"


# --------------------------------------------------------------------------- either backend


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated store, once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(fixture)


@pytest.fixture
def session_factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Build validated Settings for this test's store; keyword arguments override variables."""

    def build(**overrides: str) -> Settings:
        env = {
            "PERFHUD_DATA_DIR": str(tmp_path / "data"),
            "PERFHUD_DATABASE_URL": database_url,
            **overrides,
        }
        return load_settings(env)

    return build


# --------------------------------------------------------------------------- Redis


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database number flushed before and after the test."""
    import redis

    try:
        client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
        client.flushdb()
    except Exception as exc:  # noqa: BLE001
        service_missing("Redis", "PERFHUD_TEST_REDIS_URL", TEST_REDIS_URL, exc)
    try:
        yield TEST_REDIS_URL
    finally:
        client.flushdb()
        client.close()
