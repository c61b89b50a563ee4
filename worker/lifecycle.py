"""What a worker process does around its jobs: start-up, the sweeper timer, pool processes.

Start-up (before the pool forks, so the children inherit the result):
  1. read the host's facts and register it (creates or updates its row and fingerprint);
  2. release jobs this host left running when it was last killed (one job per host at a
     time, so any is an orphan) and publish them again;
  3. move the worker's own process off the benchmark cores.

The sweeper is a daemon thread in the main worker process, not celery beat: beat would be one
more process to deploy and keep single, while every worker already runs exactly where jobs
need sweeping. Several workers sweeping at once is harmless (the sweep stamps rows with a
compare-and-set, and a duplicate message is a no-op). Each round it also reports the host
alive (``host.last_seen``) and releases jobs of hosts that stopped reporting.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from dataclasses import dataclass
from datetime import timedelta

from celery import Celery, signals
from celery.exceptions import WorkerShutdown

from db.session import run_in_transaction
from perfhud.settings import Settings
from worker import jobstate
from worker.hostinfo import collect_facts, register_host, validate_host_name
from worker.pinning import Pinning, move_self_off
from worker.runner import WorkerContext
from worker.store_access import forget_inherited, session_factory
from worker.subprocess_run import die_with_parent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerIdentity:
    """The host a worker stands for and the cores its benchmarks get."""

    host: str
    cores: str | None = None  # None: every core this process may use
    numa_node: int | None = None

    def __post_init__(self) -> None:
        validate_host_name(self.host)

    @classmethod
    def from_settings(cls, settings: Settings) -> "WorkerIdentity":
        """``PERFHUD_WORKER_HOST`` (default: this machine's name), ``PERFHUD_WORKER_CORES``,
        ``PERFHUD_WORKER_NUMA_NODE``: the ``celery -A worker.app worker`` way to say what
        ``perfhud worker --host --cores --numa-node`` says."""
        return cls(host=settings.worker_host or _default_host_name(), cores=settings.worker_cores,
                   numa_node=settings.worker_numa_node)


def _default_host_name() -> str:
    name = re.sub(r"[^a-z0-9_-]", "-", socket.gethostname().split(".")[0].lower()).strip("-")
    return name[:63] or "localhost"


def sweep_interval(settings: Settings) -> float:
    """Seconds between sweeper rounds: a few per stale period, at most a minute."""
    return min(60.0, max(1.0, settings.outbox_stale_seconds / 3))


def host_lease(settings: Settings) -> timedelta:
    """How long a host may stay silent before its running job is presumed orphaned."""
    return timedelta(seconds=max(30.0, 5 * sweep_interval(settings)))


def prepare_worker(app: Celery, identity: WorkerIdentity) -> WorkerContext:
    """Register the host, recover its orphans, move off the benchmark cores (see module doc)."""
    settings: Settings = app.perfhud_settings  # type: ignore[attr-defined]
    pinning = Pinning.from_spec(identity.cores, identity.numa_node)
    facts = collect_facts(pinning)

    def work(session):  # type: ignore[no-untyped-def]
        host = register_host(session, identity.host, facts)
        released = jobstate.recover_host(session, host.id, settings.job_max_attempts)
        return host.id, released

    host_id, released = run_in_transaction(session_factory(settings.database_url), work)
    if released:
        from worker.publish import publish_jobs

        log.warning("released job(s) %s left running by this host's previous worker", released)
        publish_jobs(settings, released)
    own = move_self_off(pinning)
    log.info("host %s: benchmarks on cores %s (%d threads), worker on cores %s; %s", identity.host, pinning.spec,
             pinning.threads, ",".join(map(str, own)), facts.cpu_model)
    context = WorkerContext(settings=settings, host_name=identity.host, host_id=host_id,
                            fingerprint=facts.fingerprint, pinning=pinning)
    app.perfhud_context = context  # type: ignore[attr-defined]
    return context


class Sweeper(threading.Thread):
    """Every :func:`sweep_interval` seconds: heartbeat, release silent hosts' jobs, republish."""

    def __init__(self, settings: Settings, host_id: int) -> None:
        super().__init__(name="perfhud-sweeper", daemon=True)
        self.settings = settings
        self.host_id = host_id
        self.stopped = threading.Event()

    def sweep_once(self) -> int:
        from worker.publish import sweep_stale

        settings = self.settings
        factory = session_factory(settings.database_url)

        def work(session) -> list[int]:  # type: ignore[no-untyped-def]
            jobstate.heartbeat(session, self.host_id)
            return jobstate.recover_silent_hosts(session, host_lease(settings), settings.job_max_attempts)

        run_in_transaction(factory, work)
        return sweep_stale(settings)

    def run(self) -> None:
        interval = sweep_interval(self.settings)
        while not self.stopped.wait(interval):
            try:
                self.sweep_once()
            except Exception:  # a database or broker hiccup: try again next round
                log.exception("sweeper round failed")

    def stop(self) -> None:
        self.stopped.set()


@signals.worker_init.connect
def _on_worker_init(sender, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    app = sender.app
    identity = getattr(app, "perfhud_worker", None)
    if identity is None or getattr(app, "perfhud_context", None) is not None:
        return
    try:
        prepare_worker(app, identity)
    except Exception as exc:
        log.critical("worker start-up failed: %s", exc)
        raise WorkerShutdown(78) from exc


@signals.worker_ready.connect
def _on_worker_ready(sender, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    app = sender.app
    context = getattr(app, "perfhud_context", None)
    if context is None:
        return
    sweeper = Sweeper(context.settings, context.host_id)
    sweeper.start()
    app.perfhud_sweeper = sweeper  # type: ignore[attr-defined]
    try:
        sweeper.sweep_once()  # publish what waited while no worker was up
    except Exception:
        log.exception("first sweeper round failed")


@signals.worker_shutdown.connect
def _on_worker_shutdown(sender, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    sweeper = getattr(sender.app, "perfhud_sweeper", None)
    if sweeper is not None:
        sweeper.stop()


@signals.worker_process_init.connect
def _on_pool_process_init(**_kwargs) -> None:  # type: ignore[no-untyped-def]
    # A pool process must not outlive the worker that forked it (SIGKILL of the main process),
    # nor share its database connections.
    die_with_parent()
    forget_inherited()
    log.debug("pool process %d ready", os.getpid())
