"""Every model, importable from one place so that ``Base.metadata`` is complete."""

from db.models.alert import Alert, AlertDirection, AlertGroup, AlertState
from db.models.benchmark import Benchmark, Direction, Result, Verdict
from db.models.commit import Commit, Push, PushCommit
from db.models.host import Host
from db.models.job import Job, JobKind, JobStatus
from db.models.repository import Repository
from db.models.webhook import WebhookDelivery

__all__ = [
    "Alert", "AlertDirection", "AlertGroup", "AlertState", "Benchmark", "Commit", "Direction",
    "Host", "Job", "JobKind", "JobStatus", "Push", "PushCommit", "Repository", "Result",
    "Verdict", "WebhookDelivery",
]
