"""Handing committed jobs to the broker, through the worker's publisher.

The job rows are the outbox: they are committed before any message exists, so this step may
fail or be unavailable without losing work. The sweeper re-publishes queued jobs whose message
is stale.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from perfhud.settings import Settings

log = logging.getLogger(__name__)


def publish_after_commit(settings: Settings, job_ids: Sequence[int]) -> None:
    """Publish ``job_ids``; never raises, so a request's answer does not depend on the broker."""
    try:
        from worker.publish import publish_jobs
    except ImportError as exc:
        log.warning("jobs %s stay queued for the sweeper: the publisher is unavailable (%s)", list(job_ids), exc)
        return
    try:
        publish_jobs(settings, list(job_ids))
    except Exception:  # the publisher promises not to raise; a bug in it must not fail the request
        log.exception("publishing jobs %s failed; they stay queued for the sweeper", list(job_ids))
