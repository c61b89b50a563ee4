"""The store as the app sees it: one engine per app, one session per request.

The session is opened on first use in a request and closed on teardown, whatever happened, so a
failed request never leaks a connection or a half-open transaction into the pool.
"""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.session import make_engine, make_session_factory

_FACTORY_KEY = "perfhud.sessions"
_ENGINE_KEY = "perfhud.engine"


def init_store(app: Flask, database_url: str) -> None:
    engine = make_engine(database_url)
    app.extensions[_ENGINE_KEY] = engine
    app.extensions[_FACTORY_KEY] = make_session_factory(engine)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    """The app's engine, for the few paths that write with Core statements rather than a session."""
    return current_app.extensions[_ENGINE_KEY]


def session_factory() -> sessionmaker[Session]:
    return current_app.extensions[_FACTORY_KEY]


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = session_factory()()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
