"""docker-compose.yml: valid against the Compose specification, and every command it runs exists.

No Docker engine runs where these tests run, so `docker compose config` is out of reach; the
specification's JSON schema is the nearest check (it rejects a misspelled key or a wrong type).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "tests" / "fixtures" / "compose-spec" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    if not SCHEMA_PATH.exists():
        pytest.fail(f"the Compose specification schema is missing: {SCHEMA_PATH.name}")
    return jsonschema.Draft7Validator(json.loads(SCHEMA_PATH.read_text()))


def test_compose_file_is_valid(compose: dict, validator: jsonschema.Draft7Validator) -> None:
    errors = sorted(validator.iter_errors(compose), key=str)
    assert not errors, [e.message for e in errors]


def test_schema_rejects_a_misspelled_key(compose: dict, validator: jsonschema.Draft7Validator) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["web"]["imagee"] = "perfhud:latest"
    assert any("imagee" in e.message for e in validator.iter_errors(broken))


def test_production_services_are_all_there(compose: dict) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "web", "flower"} <= set(services)
    workers = [name for name in services if name.startswith("worker")]
    assert workers, "at least one pinned worker service"
    for name in workers:
        assert services[name].get("cpuset"), f"{name} must be pinned with cpuset"
        assert "--cores" in services[name]["command"]
    for name in ("postgres", "redis", "web"):
        assert "healthcheck" in services[name], f"{name} needs a healthcheck"
    assert services["migrate"]["restart"] == "no"


def _entry_points() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])


def _module_of(argv: list[str]) -> str | None:
    if argv[0] == "gunicorn":
        return argv[-1].split(":")[0]  # gunicorn's APP_MODULE:VARIABLE comes last
    if argv[0] == "celery":
        return argv[argv.index("-A") + 1]
    return None


def test_every_command_exists_in_this_repository(compose: dict) -> None:
    scripts = _entry_points()
    for name, service in compose["services"].items():
        if "build" not in service and "image" in service and not service["image"].startswith("perfhud"):
            continue  # third-party images (postgres, redis) bring their own commands
        argv = service.get("command")
        assert isinstance(argv, list) and argv, f"{name}: command must be an argument list"
        program = argv[0]
        installed = shutil.which(program) or (Path(sys.executable).parent / program).exists()
        assert program in scripts or installed, f"{name}: {program} is not installed"
        module = _module_of(argv)
        if module is not None:
            assert importlib.util.find_spec(module) is not None, f"{name}: module {module} does not exist"
        if program == "perfhud":
            from click.testing import CliRunner

            from perfhud.cli import cli

            subcommand = [a for a in argv[1:] if not a.startswith("-")][:1]
            result = CliRunner().invoke(cli, [*subcommand, "--help"])
            assert result.exit_code == 0, f"{name}: perfhud {' '.join(subcommand)} does not exist: {result.output}"


def test_dockerfile_pins_the_cpu_build_of_torch() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "torch==2.13.0" in text
    assert "torchvision" not in text
