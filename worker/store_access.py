"""One engine per process and database URL.

Celery's pool forks its children from the main process; a connection inherited across a fork
would be shared by two processes and corrupt both sessions. Engines are therefore keyed by the
process id as well, and a child builds its own on first use.
"""

from __future__ import annotations

import os
import threading

from sqlalchemy.orm import Session, sessionmaker

from db.session import make_engine, make_session_factory

_lock = threading.Lock()
_factories: dict[tuple[int, str], sessionmaker[Session]] = {}


def session_factory(database_url: str) -> sessionmaker[Session]:
    key = (os.getpid(), database_url)
    with _lock:
        factory = _factories.get(key)
        if factory is None:
            factory = make_session_factory(make_engine(database_url))
            _factories[key] = factory
        return factory


def forget_inherited() -> None:
    """Drop engines created by a parent process (call first thing in a forked child)."""
    with _lock:
        for key in [k for k in _factories if k[0] != os.getpid()]:
            factory = _factories.pop(key)
            bind = factory.kw.get("bind")
            if bind is not None:
                bind.dispose(close=False)
