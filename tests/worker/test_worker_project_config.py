"""perfhud.toml: the format a benchmarked repository writes."""

from __future__ import annotations

import sys

import pytest

from worker.project_config import ProjectConfigError, load_project_config, parse_project_config

GOOD = '''
[benchmark]
command = ["python", "-m", "benchmarks", "run", "--suite", "{suite}", "--out", "{results}"]
setup = "python -m pip install --no-deps -e ."
timeout = 900

[benchmark.env]
PYTHONHASHSEED = "0"
'''


def test_parse_full_config() -> None:
    config = parse_project_config(GOOD)
    assert config.command[-1] == "{results}"
    assert config.setup == ("python", "-m", "pip", "install", "--no-deps", "-e", ".")
    assert config.timeout == 900
    assert config.env == {"PYTHONHASHSEED": "0"}
    argv = config.render(config.command, {"results": "/r.json", "suite": "ci", "cores": "1", "threads": "1"})
    assert argv == [sys.executable, "-m", "benchmarks", "run", "--suite", "ci", "--out", "/r.json"]


@pytest.mark.parametrize(("text", "message"), [
    ("", "needs a \\[benchmark\\] table"),
    ("[benchmark]\ntimeout = 5\n", "benchmark.command is missing"),
    ('[benchmark]\ncommand = ["run"]\n', "must contain \\{results\\}"),
    ('[benchmark]\ncommand = ["run", "{results}", "{home}"]\n', "unknown placeholder \\{home\\}"),
    ('[benchmark]\ncommand = ["run", "{results}"]\ntimeout = "10"\n', "whole number of seconds"),
    ('[benchmark]\ncommand = ["run", "{results}"]\ntimeout = 0\n', "positive"),
    ('[benchmark]\ncommand = ["run", "{results}"]\nshell = true\n', "unknown key"),
    ('[benchmark]\ncommand = 3\n', "list of strings or a string"),
    ('[benchmark]\ncommand = ["run", "{results}"]\n[benchmark.env]\nOMP_NUM_THREADS = "8"\n', "set by the worker"),
    ('[benchmark]\ncommand = ["run", "{results}"]\n[benchmark.env]\n"A B" = "1"\n', "not a variable name"),
    ('[benchmark\n', "not valid TOML"),
    ('[other]\nx = 1\n', "unknown table"),
])
def test_bad_configs_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ProjectConfigError, match=message):
        parse_project_config(text)


def test_shell_syntax_stays_literal() -> None:
    config = parse_project_config('[benchmark]\ncommand = "run --out {results} ; rm -rf / $(id)"\n')
    assert config.command == ("run", "--out", "{results}", ";", "rm", "-rf", "/", "$(id)")


def test_missing_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ProjectConfigError, match="no perfhud.toml"):
        load_project_config(tmp_path)


def test_this_repository_has_a_valid_config() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    config = load_project_config(root)
    assert config.command[:4] == ("python", "-m", "benchmarks", "run")
    assert "{results}" in config.command and "ci" in config.command
