"""The installed ``perfhud`` command, run as a user runs it (a real process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from db.migrate import check

PERFHUD = [sys.executable, "-m", "perfhud.cli"]
COMMANDS = [
    [], ["db"], ["db", "upgrade"], ["db", "check"], ["token"], ["token", "new"],
    ["up"], ["demo"], ["web"], ["worker"], ["repo"], ["repo", "add"], ["backfill"], ["sweep"],
]


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PERFHUD_")}
    full_env.update({"PERFHUD_DATA_DIR": str(tmp_path / "data"), **env})
    return subprocess.run([*PERFHUD, *args], capture_output=True, text=True, env=full_env, timeout=120)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "perfhud")
def test_every_command_has_help(command: list[str], tmp_path: Path) -> None:
    result = run([*command, "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage: perfhud" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["frobnicate"], "No such command 'frobnicate'"),
        (["db", "upgrade", "--bogus"], "No such option '--bogus'"),
        (["db", "nothing"], "No such command 'nothing'"),
    ],
)
def test_usage_errors_print_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = run(args, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_bad_database_url_names_the_variable(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], tmp_path, PERFHUD_DATABASE_URL="nonsense")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "PERFHUD_DATABASE_URL" in lines[0], result.stderr


def test_db_upgrade_on_an_empty_store_then_check(database_url: str, tmp_path: Path) -> None:
    result = run(["db", "upgrade"], tmp_path, PERFHUD_DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    check(database_url)
    again = run(["db", "check"], tmp_path, PERFHUD_DATABASE_URL=database_url)
    assert again.returncode == 0 and "agree" in again.stdout, again.stderr


def test_token_new_prints_a_token_and_its_hash(tmp_path: Path) -> None:
    from perfhud.settings import hash_token

    out = run(["token", "new"], tmp_path).stdout.splitlines()
    token = out[0].split(": ", 1)[1]
    assert out[1].split(": ", 1)[1].strip() == hash_token(token)
