"""Settings: every malformed value stops start-up with a message naming its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfhud.settings import SettingsError, hash_token, load_settings


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"PERFHUD_DATA_DIR": str(tmp_path), **values}


def test_embedded_defaults(tmp_path: Path) -> None:
    s = load_settings(env(tmp_path))
    assert s.database_url == f"sqlite:///{tmp_path}/perfhud.db"
    assert s.broker_url == f"sqla+sqlite:///{tmp_path}/broker.db"
    assert s.is_embedded_broker and s.is_sqlite
    assert s.webhook_secret is None  # no default secret
    assert s.api_token_hashes == frozenset()
    assert s.job_time_limit > s.job_soft_time_limit


def test_postgres_url_gets_the_psycopg3_driver(tmp_path: Path) -> None:
    s = load_settings(env(tmp_path, PERFHUD_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/perf"))
    assert s.database_url.startswith("postgresql+psycopg://postgres@127.0.0.1:5432/perf")


def test_tokens_are_compared_by_hash(tmp_path: Path) -> None:
    s = load_settings(env(tmp_path, PERFHUD_API_TOKENS=hash_token("s3cret-token")))
    assert s.token_valid("s3cret-token")
    assert not s.token_valid("other")
    assert not s.token_valid("")
    assert "s3cret-token" not in repr(s)


def test_allowed_repos_are_case_insensitive(tmp_path: Path) -> None:
    s = load_settings(env(tmp_path, PERFHUD_ALLOWED_REPOS="Octo/Widgets, pytorch/pytorch"))
    assert s.repo_allowed("octo/widgets") and s.repo_allowed("PyTorch/PyTorch")
    assert not s.repo_allowed("evil/repo")
    assert load_settings(env(tmp_path)).repo_allowed("any/repo")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PERFHUD_DATABASE_URL", "nonsense", "not a database URL"),
        ("PERFHUD_DATABASE_URL", "mysql://root@localhost/x", "unsupported database 'mysql'"),
        ("PERFHUD_DATABASE_URL", "sqlite://", "in-memory"),
        ("PERFHUD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432", "no database name"),
        ("PERFHUD_BROKER_URL", "kafka://x", "unsupported broker"),
        ("PERFHUD_WEBHOOK_SECRET", "short", "too short"),
        ("PERFHUD_ALLOWED_REPOS", "not a repo", "is not OWNER/NAME"),
        ("PERFHUD_API_TOKENS", "plaintext-token", "hashed token"),
        ("PERFHUD_SUITES", "CI Suite", "is not a suite name"),
        ("PERFHUD_JOB_SOFT_TIME_LIMIT", "ten", "whole number"),
        ("PERFHUD_JOB_SOFT_TIME_LIMIT", "-5", "must be positive"),
        ("PERFHUD_JOB_MAX_ATTEMPTS", "0", "must be positive"),
        ("PERFHUD_PUBLIC_URL", "ftp://x", "http(s) URL"),
        ("PERFHUD_GITHUB_API_URL", "not-a-url", "http(s) URL"),
    ],
)
def test_malformed_values_name_their_variable(tmp_path: Path, variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env(tmp_path, **{variable: value}))
    assert info.value.variable == variable
    assert str(info.value).startswith(f"{variable}: ")
    assert message in str(info.value)


def test_hard_limit_must_exceed_soft_limit(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PERFHUD_JOB_TIME_LIMIT: must exceed"):
        load_settings(env(tmp_path, PERFHUD_JOB_SOFT_TIME_LIMIT="100", PERFHUD_JOB_TIME_LIMIT="100"))


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(SettingsError, match="PERFHUD_DATA_DIR"):
        load_settings({"PERFHUD_DATA_DIR": str(f)})


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PERFHUD_WORKER_HOST", "Bad Host"), ("PERFHUD_WORKER_CORES", "2-x"), ("PERFHUD_WORKER_NUMA_NODE", "-1")],
)
def test_worker_identity_is_validated(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env(tmp_path, **{variable: value}))
    assert info.value.variable == variable


def test_worker_identity_values(tmp_path: Path) -> None:
    s = load_settings(env(tmp_path, PERFHUD_WORKER_HOST="bench-07", PERFHUD_WORKER_CORES="2-7,9",
                          PERFHUD_WORKER_NUMA_NODE="1"))
    assert (s.worker_host, s.worker_cores, s.worker_numa_node) == ("bench-07", "2-7,9", 1)
