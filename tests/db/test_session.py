"""run_in_transaction: a dropped connection is retried, and a failed attempt leaves nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from db.models import Repository
from db.session import make_engine, make_session_factory, run_in_transaction


def test_retries_after_the_server_drops_the_connection(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    factory = make_session_factory(engine)
    calls = {"n": 0}

    def work(session) -> int:
        calls["n"] += 1
        repo = Repository(full_name=f"octo/r{calls['n']}", clone_url="x")
        session.add(repo)
        session.flush()
        if calls["n"] == 1:
            # Kill our own backend mid-transaction, as a server restart or network drop would.
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            killer = make_engine(postgres_url)
            with killer.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                conn.commit()
            killer.dispose()
            session.execute(text("SELECT 1"))  # fails: connection gone
        return repo.id

    run_in_transaction(factory, work, backoff_s=0.01)
    assert calls["n"] == 2
    with factory() as s:
        names = list(s.scalars(select(Repository.full_name)))
    assert names == ["octo/r2"]  # the first attempt's row was never committed
    engine.dispose()


def test_does_not_retry_a_real_error(sqlite_url: str) -> None:
    factory = make_session_factory(make_engine(sqlite_url))
    calls = {"n": 0}

    def work(session) -> None:
        calls["n"] += 1
        session.add_all([Repository(full_name="a/b", clone_url="x"), Repository(full_name="a/b", clone_url="y")])
        session.flush()

    with pytest.raises(IntegrityError):
        run_in_transaction(factory, work)
    assert calls["n"] == 1
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Repository)) == 0
