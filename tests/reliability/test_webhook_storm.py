"""1,000 webhook deliveries, 10 % of them repeated and 5 % badly signed, against PostgreSQL
and Redis: exactly the right jobs exist, and every bad signature is refused with 401."""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from dashboard import create_app
from dashboard.github import signature_for
from db.models import Commit, Job, Push, Repository, WebhookDelivery
from db.session import make_engine, make_session_factory, session_scope

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "github-webhooks" / "push.with-new-branch.json"
SECRET = "storm-secret-0123456789abcdef"
DELIVERIES = 1000


def _push_body(template: dict, i: int) -> bytes:
    body = copy.deepcopy(template)
    sha = f"{i + 1:040x}"
    body["after"] = sha
    body["commits"][0]["id"] = sha
    body["head_commit"]["id"] = sha
    body["ref"] = "refs/heads/storm"
    return json.dumps(body).encode()


def test_a_storm_of_deliveries_makes_exactly_the_right_jobs(postgres_url, redis_url, tmp_path) -> None:
    from perfhud.settings import load_settings

    settings = load_settings({
        "PERFHUD_DATA_DIR": str(tmp_path / "data"),
        "PERFHUD_DATABASE_URL": postgres_url,
        "PERFHUD_BROKER_URL": redis_url,
        "PERFHUD_WEBHOOK_SECRET": SECRET,
        "PERFHUD_SUITES": "ci",
    })
    factory = make_session_factory(make_engine(settings.database_url))
    with session_scope(factory) as s:
        s.add(Repository(full_name="codertocat/hello-world", clone_url="https://github.com/Codertocat/Hello-World.git"))
    client = create_app(settings).test_client()
    template = json.loads(FIXTURE.read_text())

    rng = random.Random(7)
    plan: list[tuple[str, bytes, bool]] = []  # (delivery id, body, signed correctly)
    valid_sent: list[tuple[str, bytes]] = []
    for i in range(DELIVERIES):
        roll = rng.random()
        if roll < 0.10 and valid_sent:
            delivery, body = rng.choice(valid_sent)  # GitHub redelivering the same delivery
            plan.append((delivery, body, True))
        elif roll < 0.15:
            plan.append((str(uuid.uuid4()), _push_body(template, 100_000 + i), False))
        else:
            delivery, body = str(uuid.uuid4()), _push_body(template, i)
            valid_sent.append((delivery, body))
            plan.append((delivery, body, True))

    statuses: Counter[tuple[bool, int]] = Counter()
    for delivery, body, good in plan:
        signature = signature_for(SECRET if good else "not-the-secret-at-all", body)
        response = client.post("/webhooks/github", data=body, headers={
            "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
            "Content-Type": "application/json", "X-Hub-Signature-256": signature,
        })
        statuses[(good, response.status_code)] += 1

    bad = sum(1 for _, _, good in plan if not good)
    assert statuses[(False, 401)] == bad and bad > 30
    assert sum(n for (good, code), n in statuses.items() if good and code not in (200, 202)) == 0, statuses
    with session_scope(factory) as s:
        jobs = s.scalar(select(func.count()).select_from(Job))
        distinct_jobs = s.scalar(select(func.count(func.distinct(Job.commit_id))).select_from(Job))
        commits = s.scalar(select(func.count()).select_from(Commit))
        pushes = s.scalar(select(func.count()).select_from(Push))
        deliveries = s.scalar(select(func.count()).select_from(WebhookDelivery))
    assert commits == len(valid_sent)
    assert jobs == distinct_jobs == len(valid_sent)  # one job per commit, none for a repeat or a forgery
    assert pushes == len(valid_sent)
    assert deliveries == len(valid_sent)  # forged deliveries are not even recorded
