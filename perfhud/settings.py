"""The platform's one settings object, built from ``PERFHUD_*`` environment variables.

Everything that reads configuration takes a :class:`Settings`; nothing else reads the
environment. :func:`load_settings` validates every value at start-up so that a typo stops the
process with one line naming the variable, instead of failing an hour later inside a job.
There are no default secrets: a webhook secret or an API token exists only if it was set.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["Settings", "SettingsError", "load_settings", "hash_token", "normalize_database_url"]

_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_TOKEN_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
_SUITE_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_HOST_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_CORE_LIST = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


def hash_token(token: str) -> str:
    """The stored form of an API token: ``sha256:<hex>``. Tokens are never kept in clear."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Build it with :func:`load_settings`, not by hand."""

    data_dir: Path
    database_url: str
    broker_url: str
    webhook_secret: str | None = None
    allowed_repos: frozenset[str] | None = None
    api_token_hashes: frozenset[str] = field(default_factory=frozenset)
    github_token: str | None = None
    github_api_url: str = "https://api.github.com"
    public_url: str | None = None
    suites: tuple[str, ...] = ("ci",)
    job_soft_time_limit: int = 3600
    job_time_limit: int = 3900
    job_max_attempts: int = 3
    outbox_stale_seconds: int = 300
    webhook_max_body: int = 25 * 1024 * 1024
    # For `celery -A worker.app worker`; `perfhud worker` takes --host/--cores/--numa-node.
    worker_host: str | None = None
    worker_cores: str | None = None
    worker_numa_node: int | None = None

    @property
    def is_embedded_broker(self) -> bool:
        return self.broker_url.startswith("sqla+")

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"

    def repo_allowed(self, full_name: str) -> bool:
        return self.allowed_repos is None or full_name.lower() in self.allowed_repos

    def token_valid(self, token: str) -> bool:
        return bool(token) and hash_token(token) in self.api_token_hashes


def normalize_database_url(raw: str, variable: str = "PERFHUD_DATABASE_URL") -> str:
    """Check a database URL and pin the PostgreSQL driver to psycopg 3.

    ``postgresql://`` alone would make SQLAlchemy look for psycopg2, which is not a
    dependency; users write the plain form, so it is accepted and rewritten.
    """
    try:
        url: URL = make_url(raw)
    except ArgumentError:
        raise SettingsError(
            variable,
            f"not a database URL: {raw!r} (expected sqlite:////abs/path.db or "
            "postgresql://user@host:5432/dbname)",
        ) from None
    backend = url.get_backend_name()
    if backend == "postgresql":
        if url.drivername in ("postgresql", "postgresql+psycopg2", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        if not url.database:
            raise SettingsError(variable, f"no database name in {raw!r}")
    elif backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise SettingsError(variable, "an in-memory SQLite database cannot be shared; give a file path")
    else:
        raise SettingsError(variable, f"unsupported database {backend!r}; allowed: sqlite, postgresql")
    return url.render_as_string(hide_password=False)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"must be a whole number of seconds or bytes, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(name, f"must be positive, got {value}")
    return value


def _broker_url(raw: str | None, data_dir: Path) -> str:
    if not raw:
        # kombu's SQLAlchemy transport on a file: a real broker with nothing to install.
        return f"sqla+sqlite:///{(data_dir / 'broker.db').as_posix()}"
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    allowed = ("redis", "rediss", "sqla+sqlite", "sqla+postgresql", "amqp", "memory")
    if scheme not in allowed:
        raise SettingsError(
            "PERFHUD_BROKER_URL", f"unsupported broker {raw!r}; allowed schemes: {', '.join(allowed)}"
        )
    return raw


def _allowed_repos(raw: str | None) -> frozenset[str] | None:
    if raw is None or raw.strip() == "":
        return None
    names = [part.strip() for part in raw.split(",") if part.strip()]
    for name in names:
        if not _REPO_NAME.match(name):
            raise SettingsError("PERFHUD_ALLOWED_REPOS", f"{name!r} is not OWNER/NAME")
    return frozenset(n.lower() for n in names)


def _token_hashes(raw: str | None) -> frozenset[str]:
    if raw is None or raw.strip() == "":
        return frozenset()
    hashes = [part.strip().lower() for part in raw.split(",") if part.strip()]
    for h in hashes:
        if not _TOKEN_HASH.match(h):
            raise SettingsError(
                "PERFHUD_API_TOKENS",
                "each entry must be a hashed token 'sha256:<64 hex>' (make one with `perfhud token new`)",
            )
    return frozenset(hashes)


def _suites(raw: str | None) -> tuple[str, ...]:
    if raw is None or raw.strip() == "":
        return ("ci",)
    suites = tuple(s.strip() for s in raw.split(",") if s.strip())
    for s in suites:
        if not _SUITE_NAME.match(s):
            raise SettingsError("PERFHUD_SUITES", f"{s!r} is not a suite name (lowercase letters, digits, - and _)")
    return suites


def _http_url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = env.get(name) or default
    if raw is None:
        return None
    if not re.match(r"^https?://[^\s/]+", raw):
        raise SettingsError(name, f"must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _worker_identity(env: Mapping[str, str]) -> tuple[str | None, str | None, int | None]:
    host = env.get("PERFHUD_WORKER_HOST") or None
    if host is not None and not _HOST_NAME.match(host):
        raise SettingsError("PERFHUD_WORKER_HOST", f"{host!r} is not a host name (a-z, 0-9, - and _, at most 63)")
    cores = env.get("PERFHUD_WORKER_CORES") or None
    if cores is not None and not _CORE_LIST.match(cores):
        raise SettingsError("PERFHUD_WORKER_CORES", f"{cores!r} is not a core list such as 2-7,9")
    numa = env.get("PERFHUD_WORKER_NUMA_NODE") or None
    if numa is not None and not numa.isdigit():
        raise SettingsError("PERFHUD_WORKER_NUMA_NODE", f"must be a node number, got {numa!r}")
    return host, cores, int(numa) if numa is not None else None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build and validate :class:`Settings` from ``env`` (default: ``os.environ``).

    Raises :class:`SettingsError` naming the first variable that is wrong.
    """
    env = os.environ if env is None else env
    data_dir = Path(env.get("PERFHUD_DATA_DIR") or Path.cwd() / ".perfhud").expanduser().resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise SettingsError("PERFHUD_DATA_DIR", f"{str(data_dir)!r} exists and is not a directory")

    raw_db = env.get("PERFHUD_DATABASE_URL")
    if raw_db is None or raw_db == "":
        database_url = f"sqlite:///{(data_dir / 'perfhud.db').as_posix()}"
    else:
        database_url = normalize_database_url(raw_db)

    secret = env.get("PERFHUD_WEBHOOK_SECRET") or None
    if secret is not None and len(secret) < 16:
        raise SettingsError("PERFHUD_WEBHOOK_SECRET", "too short; use at least 16 random characters")

    soft = _positive_int(env, "PERFHUD_JOB_SOFT_TIME_LIMIT", 3600)
    hard = _positive_int(env, "PERFHUD_JOB_TIME_LIMIT", soft + 300)
    if hard <= soft:
        raise SettingsError(
            "PERFHUD_JOB_TIME_LIMIT", f"must exceed PERFHUD_JOB_SOFT_TIME_LIMIT ({soft}), got {hard}"
        )

    worker_host, worker_cores, worker_numa_node = _worker_identity(env)
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        broker_url=_broker_url(env.get("PERFHUD_BROKER_URL"), data_dir),
        webhook_secret=secret,
        allowed_repos=_allowed_repos(env.get("PERFHUD_ALLOWED_REPOS")),
        api_token_hashes=_token_hashes(env.get("PERFHUD_API_TOKENS")),
        github_token=env.get("PERFHUD_GITHUB_TOKEN") or None,
        github_api_url=_http_url(env, "PERFHUD_GITHUB_API_URL", "https://api.github.com") or "",
        public_url=_http_url(env, "PERFHUD_PUBLIC_URL", None),
        suites=_suites(env.get("PERFHUD_SUITES")),
        job_soft_time_limit=soft,
        job_time_limit=hard,
        job_max_attempts=_positive_int(env, "PERFHUD_JOB_MAX_ATTEMPTS", 3),
        outbox_stale_seconds=_positive_int(env, "PERFHUD_OUTBOX_STALE_SECONDS", 300),
        webhook_max_body=_positive_int(env, "PERFHUD_WEBHOOK_MAX_BODY", 25 * 1024 * 1024),
        worker_host=worker_host,
        worker_cores=worker_cores,
        worker_numa_node=worker_numa_node,
    )
