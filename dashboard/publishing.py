"""Handing committed jobs to the broker without making a request wait for it: the outbox relay.

The job rows are the outbox: a request commits them and answers; publishing happens after, in
a background thread of the same process that takes job ids from an in-process queue, sends
what piles up within a few hundredths of a second as one batch over one kept-open broker
connection, and stamps ``published_at`` on the batch with one UPDATE. A broker that is down or slow therefore costs
the requests nothing: the relay logs, and the worker's sweeper republishes every queued job
whose message was never stamped.

One relay per app and process. Its thread starts on the first job handed to it, so a server
that forks its workers after loading the app (gunicorn ``--preload``) starts one per worker; a
process forked from one whose relay was running starts its own instead of sharing the parent's.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Sequence

from flask import Flask, current_app

from perfhud.settings import Settings

log = logging.getLogger(__name__)

RELAY_KEY = "perfhud.relay"
# Most messages sent in one batch (one UPDATE stamps them).
BATCH_MAX = 500
# How long the relay waits for more jobs before sending a batch: a message goes out at most
# this much later, and a busy process sends a few large batches instead of many of one.
LINGER_S = 0.05
# An idle relay closes its broker connection after this long and reopens it on the next job.
IDLE_CLOSE_S = 60.0
# How long a process that exits waits for the relay to send what it holds.
EXIT_FLUSH_S = 2.0


class _Flush:
    """Queued behind the jobs a caller handed in; set once they have been dealt with."""

    def __init__(self) -> None:
        self.done = threading.Event()


class OutboxRelay:
    """A per-process publisher of committed jobs; see the module's docstring."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[int, str] | _Flush] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._exit_hook = False
        me = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reset_in_child(me))

    def submit(self, jobs: Sequence[tuple[int, str]]) -> None:
        """Hand over committed ``(job id, queue name)`` pairs; returns at once, never raises."""
        if not jobs:
            return
        try:
            work = self._running_queue()
        except RuntimeError as exc:  # no thread can be started (interpreter shutting down)
            log.warning("jobs %s stay queued for the sweeper: the relay cannot start (%s)",
                        [job_id for job_id, _ in jobs][:20], exc)
            return
        for job in jobs:
            work.put(job)

    def flush(self, timeout: float) -> bool:
        """Wait until everything submitted before this call was sent (or given up on);
        False if that took longer than ``timeout`` seconds."""
        with self._lock:
            if not self._alive():
                return True
            marker = _Flush()
            self._queue.put(marker)
        return marker.done.wait(timeout)

    def _reset_after_fork(self) -> None:
        # Another thread may have held the lock or been inside the queue at the fork; and what
        # the parent had queued is the parent's to send.
        self._lock = threading.Lock()
        self._queue = queue.SimpleQueue()
        self._thread = None

    def _alive(self) -> bool:
        return self._thread is not None and self._pid == os.getpid() and self._thread.is_alive()

    def _running_queue(self) -> queue.SimpleQueue[tuple[int, str] | _Flush]:
        with self._lock:
            if not self._alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, args=(self._queue,), name="perfhud-outbox-relay",
                                                daemon=True)
                self._thread.start()
                if not self._exit_hook:
                    atexit.register(self.flush, EXIT_FLUSH_S)
                    self._exit_hook = True
            return self._queue

    def _run(self, work: queue.SimpleQueue[tuple[int, str] | _Flush]) -> None:
        from worker.publish import JobPublisher

        publisher = JobPublisher(self._settings)
        while True:
            try:
                first = work.get(timeout=IDLE_CLOSE_S)
            except queue.Empty:
                publisher.close()
                first = work.get()
            batch: list[tuple[int, str]] = []
            flushes: list[_Flush] = []
            item: tuple[int, str] | _Flush | None = first
            deadline = time.monotonic() + LINGER_S
            while item is not None:
                if isinstance(item, _Flush):
                    flushes.append(item)
                else:
                    batch.append(item)
                if len(batch) >= BATCH_MAX:
                    break
                # Linger for more unless someone waits for this batch: sending and stamping one
                # job costs several times its share of a batch of twenty.
                wait = 0.0 if flushes else deadline - time.monotonic()
                try:
                    item = work.get(timeout=wait) if wait > 0 else work.get_nowait()
                except queue.Empty:
                    item = None
            self._publish(publisher, batch)
            for flush in flushes:
                flush.done.set()

    def _publish(self, publisher, batch: list[tuple[int, str]]) -> None:  # type: ignore[no-untyped-def]
        from worker.publish import mark_published

        if not batch:
            return
        try:
            sent = publisher.send(batch)
            mark_published(self._settings, sent)
        except Exception:  # the relay must outlive any failure; the sweeper covers what it missed
            log.exception("publishing %d job(s) failed; they stay queued for the sweeper", len(batch))


def _reset_in_child(ref: weakref.ref[OutboxRelay]) -> None:
    relay = ref()
    if relay is not None:
        relay._reset_after_fork()


def init_relay(app: Flask, settings: Settings) -> None:
    app.extensions[RELAY_KEY] = OutboxRelay(settings)


def relay_for(app: Flask) -> OutboxRelay:
    return app.extensions[RELAY_KEY]


def publish_after_commit(jobs: Sequence[tuple[int, str]]) -> None:
    """Hand committed ``(job id, queue name)`` pairs to this app's relay; never blocks or raises,
    so a request's answer does not depend on the broker."""
    relay_for(current_app).submit(jobs)
