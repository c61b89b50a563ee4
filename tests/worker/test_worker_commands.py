"""perfhud repo / backfill / worker / sweep: usage errors exit 2, bad input says why."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from perfhud.cli import cli


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _perfhud(env: dict[str, str], *args: str) -> Ran:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def env(tmp_path, sqlite_url) -> dict[str, str]:
    from db.migrate import upgrade

    upgrade(sqlite_url)
    return {"PERFHUD_DATA_DIR": str(tmp_path / "data"), "PERFHUD_DATABASE_URL": sqlite_url}


def test_repo_add_list_backfill_sweep(env, git_repo, kit) -> None:
    repo_path, shas = git_repo([kit.CommitSpec(), kit.CommitSpec()])
    added = _perfhud(env, "repo", "add", "Acme/Tiny", "--clone-url", str(repo_path))
    assert added.returncode == 0, added.stderr
    assert "acme/tiny registered" in added.stdout
    listed = _perfhud(env, "repo", "list")
    assert listed.stdout.split()[:2] == ["acme/tiny", "main"]
    queued = _perfhud(env, "backfill", "acme/tiny", "--range", f"{shas[0]}..{shas[1]}")
    assert queued.returncode == 0, queued.stderr
    assert queued.stdout.startswith("queued 1 job(s)")
    again = _perfhud(env, "backfill", "acme/tiny", "--last", "2")
    assert again.stdout.startswith("queued 1 job(s)")  # only the commit not queued before
    swept = _perfhud(env, "sweep")
    assert swept.returncode == 0 and "republished" in swept.stdout


@pytest.mark.parametrize(("args", "code", "message"), [
    (("backfill", "acme/tiny"), 2, "exactly one of --last N or --range"),
    (("backfill", "acme/tiny", "--last", "0"), 2, "--last"),
    (("backfill", "acme/unknown", "--last", "3"), 1, "is not registered"),
    (("repo", "add", "acme/x", "--clone-url", "ext::sh -c id"), 1, "unsupported clone URL"),
    (("repo", "add", "not-a-name", "--clone-url", "/srv/x"), 1, "expected OWNER/NAME"),
    (("worker", "--host", "Bad Host"), 2, "bad host name"),
    (("worker", "--host", "h1", "--queues", "bench.other"), 2, "allowed: bench.h1, bench.any"),
    (("worker", "--host", "h1", "--cores", "9999"), 2, "core"),
])
def test_bad_input(env, args, code, message) -> None:
    done = _perfhud(env, *args)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert message in done.stderr
