"""Writing a finished job's validated measurements, through the store's one write path for
results (:func:`db.results.store_results`, which the API's uploads use as well)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from db.models import Job, Result
from db.results import store_results
from worker.results_reader import Measurement


def store_measurements(session: Session, job: Job, measurements: Sequence[Measurement]) -> list[Result]:
    """Add one result per measurement for ``job`` (already claimed and finishing)."""
    return store_results(session, job, measurements)
