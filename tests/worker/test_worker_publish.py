"""The outbox: publishing never blocks on a dead broker, and the sweeper catches up."""

from __future__ import annotations

import sqlite3
import time

from sqlalchemy import select

from db.ingest import CommitInfo, queue_job, upsert_commits
from db.migrate import upgrade
from db.models import Job, Repository
from db.session import make_engine, make_session_factory, session_scope
from perfhud.settings import load_settings
from worker.publish import publish_jobs, sweep_stale


def _queue_two(url: str) -> list[int]:
    upgrade(url)
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as s:
        repo = Repository(full_name="acme/tiny", clone_url="/srv/tiny")
        s.add(repo)
        s.flush()
        commits = upsert_commits(s, repo, [CommitInfo(sha="a" * 40), CommitInfo(sha="b" * 40)])
        ids = [queue_job(s, c, "ci", dedup_key=c.sha).id for c in commits]
    engine.dispose()
    return ids


def _published(url: str) -> list:
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as s:
        out = list(s.scalars(select(Job.published_at).order_by(Job.id)))
    engine.dispose()
    return out


def test_broker_down_returns_at_once_and_leaves_the_outbox(tmp_path, sqlite_url) -> None:
    ids = _queue_two(sqlite_url)
    # Nothing listens on port 1: the publisher must give up, not retry forever.
    settings = load_settings({"PERFHUD_DATA_DIR": str(tmp_path), "PERFHUD_DATABASE_URL": sqlite_url,
                              "PERFHUD_BROKER_URL": "redis://127.0.0.1:1/0"})
    start = time.monotonic()
    assert publish_jobs(settings, ids) == 0
    # A guard against an endless reconnection loop, not a performance figure.
    assert time.monotonic() - start < 15
    assert _published(sqlite_url) == [None, None]
    assert sweep_stale(settings) == 0
    assert _published(sqlite_url) == [None, None]  # the sweeper undid its stamp


def test_sweeper_publishes_what_was_never_sent(tmp_path, sqlite_url) -> None:
    ids = _queue_two(sqlite_url)
    settings = load_settings({"PERFHUD_DATA_DIR": str(tmp_path), "PERFHUD_DATABASE_URL": sqlite_url,
                              "PERFHUD_OUTBOX_STALE_SECONDS": "600"})
    assert sweep_stale(settings) == 2
    assert all(p is not None for p in _published(sqlite_url))
    assert sweep_stale(settings) == 0  # fresh messages are not sent again
    with sqlite3.connect(settings.data_dir / "broker.db") as broker:
        assert broker.execute("select count(*) from kombu_message").fetchone()[0] == 2
    assert publish_jobs(settings, ids) == 2  # an explicit publish always sends
