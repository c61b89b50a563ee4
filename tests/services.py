"""Check that the test services answer before the suite starts.

Run by ``make test``. Under ``CI=true`` a missing service stops the run here, naming it;
elsewhere it warns, and the tests that need the service are skipped with the same message.
"""

from __future__ import annotations

import os
import sys

DATABASE_URL = os.environ.get("PERFHUD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PERFHUD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _postgres_error() -> str | None:
    import sqlalchemy as sa

    from perfhud.settings import normalize_database_url

    try:
        url = normalize_database_url(DATABASE_URL, "PERFHUD_TEST_DATABASE_URL")
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        return f"PostgreSQL not reachable at {DATABASE_URL} (PERFHUD_TEST_DATABASE_URL): {str(exc).splitlines()[0]}"
    return None


def _redis_error() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        return f"Redis not reachable at {REDIS_URL} (PERFHUD_TEST_REDIS_URL): {exc}"
    return None


def main() -> int:
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    problems = [p for p in (_postgres_error(), _redis_error()) if p]
    for problem in problems:
        print(("error: " if in_ci else "warning: ") + problem + ("" if in_ci else "; its tests will be skipped"),
              file=sys.stderr)
    if problems and in_ci:
        return 1
    if not problems:
        print("services: PostgreSQL and Redis answer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
