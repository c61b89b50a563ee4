"""The Celery app's settings are explicit and safe for both brokers."""

from __future__ import annotations

import pytest

from perfhud.settings import load_settings
from worker.app import make_celery, make_queue


def _settings(tmp_path, **env):
    return load_settings({"PERFHUD_DATA_DIR": str(tmp_path), "PERFHUD_JOB_SOFT_TIME_LIMIT": "100",
                          "PERFHUD_JOB_TIME_LIMIT": "150", **env})


@pytest.mark.parametrize("broker", ["redis://127.0.0.1:6379/3", None])
def test_worker_settings(tmp_path, broker) -> None:
    env = {"PERFHUD_BROKER_URL": broker} if broker else {}
    app = make_celery(_settings(tmp_path, **env), host="h1")
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_concurrency == 1
    assert [q.name for q in conf.task_queues] == ["bench.h1", "bench.any"]
    assert conf.task_create_missing_queues is False
    assert (conf.task_soft_time_limit, conf.task_time_limit) == (100, 150)
    assert conf.accept_content == ["json"]
    assert "perfhud.run_job" in app.tasks
    options = conf.broker_transport_options
    if broker:
        assert options["visibility_timeout"] > conf.task_time_limit
    else:
        # Handed to SQLAlchemy's create_engine: only engine arguments may be there.
        assert set(options) == {"connect_args"}


def test_publisher_does_not_retry(tmp_path) -> None:
    app = make_celery(_settings(tmp_path, PERFHUD_BROKER_URL="redis://127.0.0.1:6379/3"), for_publishing=True)
    assert app.conf.broker_transport_options["max_retries"] == 0
    assert app.conf.broker_connection_timeout <= 1


@pytest.mark.parametrize("name", ["bench.Any", "celery", "bench.", "bench.a b", "bench.$(id)"])
def test_queue_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="bad queue name"):
        make_queue(name)
