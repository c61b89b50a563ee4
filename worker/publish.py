"""The outbox's second half: turning committed job rows into broker messages.

Callers (backfill, the worker itself) commit their job rows first and call :func:`publish_jobs`
afterwards; a process that publishes continuously (the web app's relay) keeps a
:class:`JobPublisher` and stamps what it sent with :func:`mark_published`. Publishing is best effort and bounded in time: with the
broker down it gives up within about a second, logs, and leaves ``published_at`` empty; the
sweeper (:func:`sweep_stale`, run by every worker on a timer) sends a message for every queued
job whose message is missing or old. A message that turns out to be a duplicate costs one
compare-and-set in the task and nothing else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import timedelta

from celery import Celery
from kombu import Queue
from sqlalchemy import or_, select, update

from db.base import utcnow
from db.models import Job, JobStatus
from db.session import run_in_transaction
from perfhud.settings import Settings
from worker.app import RUN_JOB_TASK, make_celery, make_queue
from worker.store_access import session_factory

log = logging.getLogger(__name__)

_apps: dict[str, Celery] = {}
_apps_lock = threading.Lock()
SWEEP_BATCH = 500


def _publisher(settings: Settings) -> Celery:
    with _apps_lock:
        app = _apps.get(settings.broker_url)
        if app is None:
            app = make_celery(settings, for_publishing=True)
            _apps[settings.broker_url] = app
        return app


class JobPublisher:
    """Sends job messages over one broker connection and producer, kept open between calls.

    Opening a connection (and, on Redis, declaring the queue) costs more than sending a
    message; a process that publishes all day (a web process's relay) keeps one. Not thread
    safe: one owner at a time. After a broker failure the connection is dropped and the next
    :meth:`send` opens a new one.
    """

    def __init__(self, settings: Settings) -> None:
        self._app = _publisher(settings)
        self._connection = None
        self._producer = None
        self._queues: dict[str, Queue] = {}

    def send(self, jobs: Sequence[tuple[int, str]]) -> list[int]:
        """Send one message per (job id, queue), whatever the rows say; return the ids sent
        before any broker failure (the others stay for the sweeper). Never raises."""
        sent: list[int] = []
        if not jobs:
            return sent
        try:
            producer = self._open()
            for job_id, queue_name in jobs:
                queue = self._queues.get(queue_name)
                if queue is None:
                    queue = self._queues[queue_name] = make_queue(queue_name)
                self._app.send_task(RUN_JOB_TASK, args=[job_id], queue=queue, producer=producer, retry=False)
                sent.append(job_id)
        except Exception as exc:  # any broker or network failure: the sweeper will try again
            log.warning("broker unavailable, %d job(s) stay queued for the sweeper: %s: %s",
                        len(jobs) - len(sent), type(exc).__name__, exc)
            self.close()
        return sent

    def close(self) -> None:
        """Drop the connection (it is reopened on the next send)."""
        producer, connection = self._producer, self._connection
        self._producer = self._connection = None
        for resource in (producer, connection):
            if resource is None:
                continue
            try:
                resource.release()
            except Exception as exc:  # a connection that already broke cannot be closed cleanly
                log.debug("closing the broker connection: %s: %s", type(exc).__name__, exc)

    def _open(self):  # type: ignore[no-untyped-def]
        if self._producer is None:
            self._connection = self._app.connection_for_write()
            self._producer = self._app.amqp.Producer(self._connection)
        return self._producer


def send_job_messages(settings: Settings, jobs: Sequence[tuple[int, str]]) -> list[int]:
    """Send one message per (job id, queue) over a connection of its own; return the ids sent
    before any broker failure. Callers check the rows (a duplicate is harmless, only wasteful)."""
    if not jobs:
        return []
    publisher = JobPublisher(settings)
    try:
        return publisher.send(jobs)
    finally:
        publisher.close()


def mark_published(settings: Settings, job_ids: Sequence[int]) -> None:
    """Stamp ``published_at`` on ``job_ids`` in one statement (it may raise a database error)."""
    if not job_ids:
        return
    ids = list(job_ids)

    def work(session) -> None:  # type: ignore[no-untyped-def]
        session.execute(
            update(Job).where(Job.id.in_(ids)).values(published_at=utcnow())
            .execution_options(synchronize_session=False)
        )

    run_in_transaction(session_factory(settings.database_url), work)


def publish_jobs(settings: Settings, job_ids: Sequence[int]) -> int:
    """Publish the queued jobs among ``job_ids``; return how many messages were sent.

    Never raises for a broker or database failure (it logs): the rows are already committed
    and the sweeper catches up.
    """
    if not job_ids:
        return 0
    try:
        def load(session) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
            rows = session.execute(
                select(Job.id, Job.queue).where(Job.id.in_(list(job_ids)), Job.status == JobStatus.QUEUED)
                .order_by(Job.priority.desc(), Job.id)
            ).all()
            return [(r[0], r[1]) for r in rows]

        jobs = run_in_transaction(session_factory(settings.database_url), load)
        sent = send_job_messages(settings, jobs)
        mark_published(settings, sent)
        return len(sent)
    except Exception:
        log.exception("publishing jobs %s failed; they stay queued for the sweeper", list(job_ids)[:20])
        return 0


def sweep_stale(settings: Settings) -> int:
    """Republish queued jobs whose message was never sent or is older than the stale limit.

    Each stale row is first stamped with a new ``published_at`` by a compare-and-set, so two
    workers sweeping at once do not both send it; if sending then fails the stamp is undone.
    """
    cutoff = utcnow() - timedelta(seconds=settings.outbox_stale_seconds)

    def take(session) -> list[tuple[int, str, object]]:  # type: ignore[no-untyped-def]
        rows = session.execute(
            select(Job.id, Job.queue, Job.published_at)
            .where(Job.status == JobStatus.QUEUED, or_(Job.published_at.is_(None), Job.published_at < cutoff))
            .order_by(Job.priority.desc(), Job.id)
            .limit(SWEEP_BATCH)
        ).all()
        taken = []
        now = utcnow()
        for job_id, queue, published_at in rows:
            guard = Job.published_at.is_(None) if published_at is None else Job.published_at == published_at
            won = session.execute(
                update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED, guard)
                .values(published_at=now).execution_options(synchronize_session=False)
            ).rowcount
            if won == 1:
                taken.append((job_id, queue, published_at))
        return taken

    factory = session_factory(settings.database_url)
    taken = run_in_transaction(factory, take)
    if not taken:
        return 0
    sent = set(send_job_messages(settings, [(job_id, queue) for job_id, queue, _ in taken]))
    unsent = [(job_id, old) for job_id, _, old in taken if job_id not in sent]
    if unsent:
        def undo(session) -> None:  # type: ignore[no-untyped-def]
            for job_id, old in unsent:
                session.execute(update(Job).where(Job.id == job_id).values(published_at=old)
                                .execution_options(synchronize_session=False))

        run_in_transaction(factory, undo)
    if sent:
        log.info("sweeper republished %d queued job(s)", len(sent))
    return len(sent)
