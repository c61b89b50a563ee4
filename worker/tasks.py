"""The one Celery task: "job N may be runnable". It takes an id, and the runner does the rest.

The task body is deliberately thin (Celery's own advice): everything testable lives in plain
functions in :mod:`worker.runner`, and this module only adapts them to Celery, including the
one case the runner cannot see, the hard time limit, which kills the pool process.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task
from celery.exceptions import TimeLimitExceeded

from worker.app import RUN_JOB_TASK

log = logging.getLogger(__name__)


class JobTask(Task):
    """Marks the job failed when the hard time limit kills the pool process mid-job.

    Celery calls ``on_failure`` for that case in the main worker process; the pool process that
    would normally write the job's row is gone.
    """

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: Any) -> None:
        if not isinstance(exc, TimeLimitExceeded) or not args:
            return
        from db.session import run_in_transaction
        from worker import jobstate
        from worker.store_access import session_factory

        settings = self.app.perfhud_settings
        context = getattr(self.app, "perfhud_context", None)
        host_id = context.host_id if context is not None else None
        reason = f"the job was killed at the hard time limit ({settings.job_time_limit} s)"
        try:
            run_in_transaction(session_factory(settings.database_url),
                               lambda s: jobstate.fail_running(s, int(args[0]), host_id, reason))
        except Exception:
            log.exception("could not mark job %s failed after its hard time limit", args[0])


def register_tasks(app: Celery) -> None:
    @app.task(name=RUN_JOB_TASK, base=JobTask, bind=True, ignore_result=True, shared=False)
    def run_job(self: JobTask, job_id: int) -> str | None:
        if not isinstance(job_id, int) or isinstance(job_id, bool) or job_id <= 0:
            log.error("message with a bad job id %r dropped", job_id)
            return None
        context = getattr(self.app, "perfhud_context", None)
        if context is None:
            raise RuntimeError("this process has no worker context; start it with `perfhud worker --host NAME`")
        from worker.runner import run_job as run

        status = run(context, job_id)
        return status.value if status is not None else None
