"""Recording one GitHub delivery: the claim, the commits, the push and its jobs, all or nothing.

This is the webhook's write path, kept lean because GitHub can send hundreds of deliveries a
second. On PostgreSQL it is ONE statement (data-modifying CTEs) run outside an explicit
transaction: a single statement is atomic by itself, so a delivery costs one round trip and
no BEGIN or COMMIT, and the commits go in as one JSON array, however many there are.
On SQLite (the embedded store) round trips cost nothing and there are no data-modifying CTEs:
the same rows are written through :func:`db.ingest.record_push` in one transaction.

Both record exactly what :func:`db.ingest.record_push` records (same rows, same job
``dedup_key``), so a backfill of a commit the webhook already queued adds nothing, and the
other way round.

Races, all settled by unique keys:

- the same delivery twice at once: the second claim waits for the first to commit, then
  finds it and records nothing;
- a commit that another delivery inserts at the same moment: the insert waits for it and skips
  it, but the statement's snapshot predates it, so its id is missing; the NOT NULL on the
  commit id of ``push_commit`` and ``job`` then fails the whole statement and
  :func:`record_delivery` runs it again, when the row is visible;
- a job for a commit queued meanwhile by another writer: skipped by its ``dedup_key``.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from db.base import utcnow
from db.ingest import ANY_QUEUE, AUTHOR_MAX, CommitInfo, get_repository, record_push
from db.models import WebhookDelivery

log = logging.getLogger(__name__)

ATTEMPTS = 3


class Claim(enum.Enum):
    RECORDED = "recorded"
    REPEATED = "repeated"  # this delivery id was recorded before: nothing new
    UNREGISTERED = "unregistered"  # the repository is not registered or disabled: nothing recorded


@dataclass(frozen=True)
class PushRows:
    """What a push (or pull-request update) adds: commits oldest first, one job per commit per suite."""

    branch: str
    commits: Sequence[CommitInfo]
    source: str
    suites: Sequence[str]
    before_sha: str | None = None
    pull_number: int | None = None
    queue: str = ANY_QUEUE


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    event: str
    repository: str | None  # as GitHub sent it; None for an event about no repository
    outcome: str  # queued | ignored
    detail: str
    push: PushRows | None = None


@dataclass(frozen=True)
class Recorded:
    claim: Claim
    commits: int = 0
    jobs: tuple[tuple[int, str], ...] = ()  # (job id, queue) of the new jobs, in id order


def delivery_engine(engine: Engine) -> Engine:
    """The engine :func:`record_delivery` is best given, made from the app's ``engine``.

    On PostgreSQL it is an engine of its own, in autocommit mode (a single statement needs no
    BEGIN or COMMIT) and without the pre-ping that the app's engine does on every checkout: a
    round trip per delivery that buys nothing here, since :func:`record_delivery` runs the
    statement again on a fresh connection when the pooled one turns out to be dead. Elsewhere
    it is ``engine`` itself. Build it once per process, not per delivery.
    """
    if engine.dialect.name != "postgresql":
        return engine
    return create_engine(engine.url, isolation_level="AUTOCOMMIT", pool_pre_ping=False, pool_recycle=1800)


def record_delivery(engine: Engine, delivery: Delivery) -> Recorded:
    """Record ``delivery`` once; on a unique-key race run it again (see the module docstring).

    ``engine`` is best one from :func:`delivery_engine`; any other works, at the cost of a
    BEGIN and a COMMIT around the statement.
    """
    postgres = engine.dialect.name == "postgresql"
    for attempt in range(1, ATTEMPTS + 1):
        try:
            if postgres:
                with engine.begin() as conn:  # sends nothing on an autocommit engine
                    return _record_postgres(conn, delivery)
            with engine.connect() as conn:
                return _record_sqlite(conn, delivery)
        except IntegrityError:
            if attempt == ATTEMPTS:
                raise
            log.info("delivery %s raced another writer; recording again", delivery.delivery_id)
        except DBAPIError as exc:
            # A connection that broke under the statement: the pool has dropped it, and running
            # the statement again is safe (a claim that did commit makes the rerun a repeat).
            if attempt == ATTEMPTS or not exc.connection_invalidated:
                raise
            log.warning("delivery %s: database connection lost (%s); recording again", delivery.delivery_id, exc.orig)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- PostgreSQL

_REPO_AND_CLAIM = """
repo AS (
    SELECT id FROM repository WHERE full_name = CAST(:repo_key AS text) AND enabled
), claim AS (
    INSERT INTO webhook_delivery (delivery_id, event, repository, received_at, outcome, detail)
    SELECT CAST(:delivery_id AS text), CAST(:event AS text), CAST(:repository AS text), CAST(:now AS timestamptz),
           CAST(:outcome AS text), CAST(:detail AS text)
    WHERE NOT CAST(:needs_repo AS boolean) OR EXISTS (SELECT FROM repo)
    ON CONFLICT (delivery_id) DO NOTHING
    RETURNING id
)"""

# A delivery recorded before is a repeat even if its repository was removed since (as on SQLite,
# where the claim is made first).
_SEEN = "EXISTS (SELECT FROM webhook_delivery WHERE delivery_id = CAST(:delivery_id AS text)) AS seen"

_CLAIM_ONLY = text(f"""
WITH {_REPO_AND_CLAIM}
SELECT (SELECT id FROM repo) AS repository_id, (SELECT id FROM claim) AS claim_id, {_SEEN}
""")

# The commits come as one JSON array (one parameter, parsed by the server, whatever their
# number). Positions are 1-based from WITH ORDINALITY; push_commit's are 0-based like
# record_push's. The job rows are ordered by commit, then suite, so ids follow the push's order.
_PUSH = text(f"""
WITH {_REPO_AND_CLAIM}, incoming AS (
    SELECT e.c ->> 'sha' AS sha, e.c, e.position
    FROM jsonb_array_elements(CAST(:commits AS jsonb)) WITH ORDINALITY AS e(c, position)
), added AS (
    INSERT INTO commit (repository_id, sha, parents, author, message, committed_at, url, created_at)
    SELECT repo.id, i.sha, i.c -> 'parents', i.c ->> 'author', i.c ->> 'message',
           CAST(i.c ->> 'committed_at' AS timestamptz), i.c ->> 'url', CAST(:now AS timestamptz)
    FROM incoming i CROSS JOIN repo
    WHERE EXISTS (SELECT FROM claim)
    ORDER BY i.position
    ON CONFLICT (repository_id, sha) DO NOTHING
    RETURNING id, sha
), pushed AS (
    -- A commit known before is looked up by its key, one probe per commit and only for those
    -- not just added: a join would let a generic plan (psycopg prepares the statement) hash
    -- the repository's every commit on each delivery.
    SELECT i.position,
           coalesce(a.id, (SELECT known.id FROM commit known WHERE known.repository_id = repo.id AND known.sha = i.sha))
               AS commit_id
    FROM incoming i CROSS JOIN repo
    LEFT JOIN added a ON a.sha = i.sha
    WHERE EXISTS (SELECT FROM claim)
), push AS (
    INSERT INTO push (repository_id, branch, before_sha, after_sha, source, delivery_id, pull_number, received_at)
    SELECT repo.id, CAST(:branch AS text), CAST(:before_sha AS text), CAST(:after_sha AS text), CAST(:source AS text),
           CAST(:delivery_id AS text), CAST(:pull_number AS integer), CAST(:now AS timestamptz)
    FROM repo
    WHERE EXISTS (SELECT FROM claim)
    RETURNING id
), linked AS (
    INSERT INTO push_commit (push_id, commit_id, position)
    SELECT push.id, p.commit_id, p.position - 1 FROM push CROSS JOIN pushed p
    ON CONFLICT DO NOTHING
), queued AS (
    INSERT INTO job (commit_id, suite, kind, status, queue, dedup_key, params, priority, attempts, queued_at)
    SELECT p.commit_id, s.suite, 'regular', 'queued', CAST(:queue AS text),
           'regular:' || p.commit_id || ':' || s.suite || ':' || CAST(:queue AS text), CAST('{{}}' AS jsonb), 0, 0,
           CAST(:now AS timestamptz)
    FROM pushed p CROSS JOIN unnest(CAST(:suites AS text[])) WITH ORDINALITY AS s(suite, n)
    ORDER BY p.position, s.n
    ON CONFLICT (dedup_key) DO NOTHING
    RETURNING id
)
SELECT (SELECT id FROM repo) AS repository_id, (SELECT id FROM claim) AS claim_id, {_SEEN},
       (SELECT count(*) FROM pushed) AS commits, (SELECT array_agg(id ORDER BY id) FROM queued) AS job_ids
""")


def _claim_params(delivery: Delivery) -> dict[str, object]:
    name = delivery.repository
    return {
        "repo_key": name.lower() if name is not None else None,
        "needs_repo": name is not None,
        "delivery_id": delivery.delivery_id,
        "event": delivery.event,
        "repository": name,
        "outcome": delivery.outcome,
        "detail": delivery.detail,
        "now": utcnow(),
    }


def _push_params(push: PushRows) -> dict[str, object]:
    commits = push.commits
    rows = [
        {"sha": c.sha, "parents": list(c.parents), "author": c.author[:AUTHOR_MAX], "message": c.message,
         "committed_at": c.committed_at.isoformat() if c.committed_at is not None else None, "url": c.url}
        for c in commits
    ]
    return {
        "commits": json.dumps(rows),
        "branch": push.branch,
        "before_sha": push.before_sha,
        "after_sha": commits[-1].sha,
        "source": push.source,
        "pull_number": push.pull_number,
        "queue": push.queue,
        "suites": list(push.suites),
    }


def _record_postgres(conn: Connection, delivery: Delivery) -> Recorded:
    params = _claim_params(delivery)
    push = delivery.push
    if push is None:
        row = conn.execute(_CLAIM_ONLY, params).one()
    else:
        if not push.commits:
            raise ValueError("a push must carry at least one commit")
        params.update(_push_params(push))
        row = conn.execute(_PUSH, params).one()
    if row.claim_id is None:
        if not row.seen and delivery.repository is not None and row.repository_id is None:
            return Recorded(Claim.UNREGISTERED)
        return Recorded(Claim.REPEATED)  # recorded before, or by a copy that committed meanwhile
    if push is None:
        return Recorded(Claim.RECORDED)
    return Recorded(Claim.RECORDED, commits=row.commits, jobs=tuple((job_id, push.queue) for job_id in row.job_ids or ()))


# --------------------------------------------------------------------------- SQLite


def _record_sqlite(conn: Connection, delivery: Delivery) -> Recorded:
    # The claim is the first statement, so the transaction holds SQLite's write lock from its
    # start: a second writer waits instead of failing to upgrade a read lock.
    session = Session(bind=conn, expire_on_commit=False)
    try:
        claimed = session.execute(
            sqlite_insert(WebhookDelivery.__table__)
            .values(delivery_id=delivery.delivery_id, event=delivery.event, repository=delivery.repository,
                    received_at=utcnow(), outcome=delivery.outcome, detail=delivery.detail)
            .on_conflict_do_nothing(index_elements=["delivery_id"])
            .returning(WebhookDelivery.__table__.c.id)
        ).first()
        if claimed is None:
            session.rollback()
            return Recorded(Claim.REPEATED)
        repository = get_repository(session, delivery.repository) if delivery.repository is not None else None
        if delivery.repository is not None and (repository is None or not repository.enabled):
            session.rollback()  # the claim goes too: nothing is recorded
            return Recorded(Claim.UNREGISTERED)
        push = delivery.push
        if push is None:
            session.commit()
            return Recorded(Claim.RECORDED)
        assert repository is not None, "a push always names its repository"
        record = record_push(session, repository, branch=push.branch, commits=list(push.commits), source=push.source,
                             suites=push.suites, before_sha=push.before_sha, delivery_id=delivery.delivery_id,
                             pull_number=push.pull_number, queue=push.queue)
        jobs = tuple((job.id, job.queue) for job in record.new_jobs)
        session.commit()
        return Recorded(Claim.RECORDED, commits=len(record.commits), jobs=jobs)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

