"""Engines and sessions for SQLite (embedded) and PostgreSQL (production).

SQLite is made fit for several processes (web, worker, sweeper) writing at once: WAL journal,
a busy timeout instead of instant "database is locked" errors, and foreign keys on. PostgreSQL
connections are pinged before use so that a restarted server costs a reconnect, not an error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
T = TypeVar("T")

_SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: object) -> Engine:
    """An engine for ``url`` with the per-backend settings above."""
    if url.startswith("sqlite"):
        from pathlib import Path

        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if database:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_recycle=1800, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: objects stay readable after commit (views render after the
    # transaction ends; tasks log ids after committing).
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
        transient = ("database is locked", "server closed the connection", "connection refused",
                     "terminating connection", "connection reset", "could not connect", "ssl syscall",
                     "consuming input failed", "the connection is lost", "connection is closed")
        return any(t in text for t in transient)
    return False


def run_in_transaction(
    factory: sessionmaker[Session],
    work: Callable[[Session], T],
    *,
    attempts: int = 5,
    backoff_s: float = 0.5,
) -> T:
    """Run ``work`` in one transaction, retrying the whole of it on a dropped connection.

    ``work`` must be safe to run again from scratch: it runs in a new transaction each time, and
    a failed attempt was rolled back, so nothing half-written is ever visible.
    """
    for attempt in range(1, attempts + 1):
        try:
            with session_scope(factory) as session:
                return work(session)
        except (OperationalError, DBAPIError) as exc:
            if attempt == attempts or not _is_transient(exc):
                raise
            log.warning("database connection lost (attempt %d/%d): %s; retrying", attempt, attempts, exc.orig)
            time.sleep(backoff_s * attempt)
    raise AssertionError("unreachable")
