"""The Celery application: every setting explicit, each with the reason it has its value.

``celery -A worker.app worker`` uses the module-level :data:`app`, built from the ``PERFHUD_*``
environment; ``perfhud worker`` builds its own with :func:`make_celery` and the host it was
given. Both consume the same two queues, ``bench.<host>`` (work that must run on this host:
confirmations of a change it saw) and ``bench.any``.

The job row in the store is the source of truth (status, attempts, results); a message is only
a nudge that says "job N may be runnable". That is what makes redelivery harmless: the task
claims the row with a compare-and-set and does nothing when someone else already did the job.
"""

from __future__ import annotations

import re
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from perfhud.settings import Settings, load_settings

ANY_QUEUE = "bench.any"
RUN_JOB_TASK = "perfhud.run_job"
_QUEUE_NAME = re.compile(r"^bench\.[a-z0-9][a-z0-9_-]{0,62}$")

# Redis keeps an unacknowledged message invisible for this long after the hard time limit
# before handing it to another worker. It must exceed the longest a job can legitimately run,
# or a healthy long job is delivered twice.
VISIBILITY_MARGIN_S = 600
# Publishing from a web request must not hang when the broker is down.
PUBLISH_CONNECT_TIMEOUT_S = 1.0


def host_queue(host: str) -> str:
    return f"bench.{host}"


def make_queue(name: str) -> Queue:
    """A declared queue for a ``bench.*`` name (one direct exchange per queue, like Celery's default)."""
    if not _QUEUE_NAME.match(name):
        raise ValueError(f"bad queue name {name!r}; allowed: bench.any or bench.<host>")
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def broker_transport_options(settings: Settings, *, for_publishing: bool = False) -> dict[str, Any]:
    """Options for the broker's transport; they differ entirely between Redis and the embedded one."""
    if settings.is_embedded_broker:
        # kombu hands these to SQLAlchemy's create_engine, so only engine arguments belong here.
        # SQLite's busy timeout: how long a writer waits for another process's lock.
        return {"connect_args": {"timeout": 1.0 if for_publishing else 30.0}}
    options: dict[str, Any] = {
        "visibility_timeout": settings.job_time_limit + VISIBILITY_MARGIN_S,
        "socket_connect_timeout": PUBLISH_CONNECT_TIMEOUT_S if for_publishing else 5,
    }
    if for_publishing:
        # No reconnection loop at publish time: the sweeper republishes what failed.
        options.update(max_retries=0, socket_timeout=PUBLISH_CONNECT_TIMEOUT_S)
    else:
        # Notice a dead connection (Redis restarted) within a minute, not at the next TCP timeout.
        options.update(socket_timeout=30, health_check_interval=25, socket_keepalive=True)
    return options


def make_celery(settings: Settings, host: str | None = None, *, for_publishing: bool = False) -> Celery:
    """A Celery app for ``settings``; a worker passes its ``host`` to declare ``bench.<host>``."""
    queues = [make_queue(ANY_QUEUE)]
    if host is not None:
        queues.insert(0, make_queue(host_queue(host)))
    if settings.is_embedded_broker:
        # The embedded broker is a SQLite file in the data directory; SQLite creates the file
        # but not its folder.
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = Celery("perfhud", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=broker_transport_options(settings, for_publishing=for_publishing),
        # A worker waits for a broker that is down at start (a deployment starts them in any order)
        # and keeps reconnecting after a restart of Redis; publishers give up at once instead.
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=0 if for_publishing else None,
        broker_connection_timeout=PUBLISH_CONNECT_TIMEOUT_S if for_publishing else 10,
        # State lives in the job row; a result backend would be a second, unreliable copy.
        result_backend=None,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        # Only JSON: a message is a job id, and pickle would let a broker write run code.
        task_serializer="json",
        accept_content=["json"],
        # Acknowledge after the job, not before: a worker that dies mid-job leaves the message
        # to be delivered again. The job row's compare-and-set makes the second delivery harmless.
        task_acks_late=True,
        # A pool process killed (OOM, SIGKILL) returns its message to the queue instead of
        # acknowledging it as failed.
        task_reject_on_worker_lost=True,
        # A failed or timed-out job is acknowledged: the row records the failure, and the
        # retry policy (attempts) is the job's, not the broker's.
        task_acks_on_failure_or_timeout=True,
        # One job at a time per pinned host, and no message reserved while one runs: a second
        # message held by a busy host would wait hours instead of going to an idle host.
        worker_concurrency=1,
        worker_prefetch_multiplier=1,
        # Exactly the declared queues, nothing created by a typo in a queue name.
        task_queues=queues,
        task_default_queue=ANY_QUEUE,
        task_default_exchange=ANY_QUEUE,
        task_default_routing_key=ANY_QUEUE,
        task_create_missing_queues=False,
        # The soft limit raises inside the job, which kills the suite and records why; the
        # hard limit (later) kills the pool process if even that did not work.
        task_soft_time_limit=settings.job_soft_time_limit,
        task_time_limit=settings.job_time_limit,
        # A broker connection lost mid-job (Redis restart) must not cancel a benchmark that is
        # half done: it finishes, writes its row, and the redelivered message finds it done.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # Nothing listens to task events; they are extra broker traffic on every job.
        worker_send_task_events=False,
        task_send_sent_event=False,
        # Remote control (celery inspect, flower) needs broadcast, which the embedded
        # SQLAlchemy transport lacks; on Redis it is what operators use to look inside.
        worker_enable_remote_control=not settings.is_embedded_broker,
        # Times in UTC everywhere, like the store.
        enable_utc=True,
        timezone="UTC",
        worker_hijack_root_logger=False,
    )
    app.perfhud_settings = settings  # type: ignore[attr-defined]
    from worker.tasks import register_tasks

    register_tasks(app)
    return app


_module_app: Celery | None = None


def __getattr__(name: str) -> Celery:
    # ``app`` is built on first access, not at import: the publisher and the dashboard import
    # this module and must not pay for (or fail on) a worker's environment.
    global _module_app
    if name not in ("app", "celery"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _module_app is None:
        # For `celery -A worker.app worker`: the host and its cores come from
        # PERFHUD_WORKER_HOST, PERFHUD_WORKER_CORES and PERFHUD_WORKER_NUMA_NODE.
        from worker.lifecycle import WorkerIdentity

        settings = load_settings()
        identity = WorkerIdentity.from_settings(settings)
        celery_app = make_celery(settings, host=identity.host)
        celery_app.perfhud_worker = identity  # type: ignore[attr-defined]
        _module_app = celery_app
    return _module_app
