"""``perfhud.toml``: how a repository asks to be benchmarked.

The file sits at the root of the benchmarked repository and is read from the commit being
benchmarked, so a commit can change its own suite. Format::

    [benchmark]
    # The suite. An argument list (or one string split like a shell would, but never run
    # by a shell). Placeholders: {results} the file the suite must write (required),
    # {suite} the suite name the job asks for, {cores} the pinned core list, {threads}.
    command = ["python", "-m", "benchmarks", "run", "--suite", "{suite}", "--out", "{results}"]
    # Optional: run once before the suite, in the same checkout (build an extension...).
    setup = ["python", "-m", "pip", "install", "--no-deps", "-e", "."]
    # Seconds for setup and suite together; the job fails with the reason when it is
    # exceeded. Capped by the worker's PERFHUD_JOB_SOFT_TIME_LIMIT.
    timeout = 1800

    [benchmark.env]
    # Extra environment for setup and suite (strings only). OMP_NUM_THREADS and friends are
    # set by the worker from the pinned cores and cannot be overridden here.
    PYTHONHASHSEED = "0"

A program named ``python`` (or ``python3``) runs with the worker's own interpreter, the one
with torch installed. Both commands run from the checkout's root with the pinned cores.
"""

from __future__ import annotations

import re
import shlex
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE_NAME = "perfhud.toml"
MAX_FILE_BYTES = 64 * 1024
PLACEHOLDERS = ("results", "suite", "cores", "threads")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_ENV = frozenset({"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"})
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class ProjectConfigError(ValueError):
    """``perfhud.toml`` is missing or malformed; the message names the key."""


@dataclass(frozen=True)
class ProjectConfig:
    command: tuple[str, ...]
    setup: tuple[str, ...] | None = None
    timeout: int = 1800
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.command:
            raise ProjectConfigError("benchmark.command is empty")
        if not any("{results}" in arg for arg in self.command):
            raise ProjectConfigError("benchmark.command must contain {results}, the results file it writes")
        for key, argv in (("benchmark.command", self.command), ("benchmark.setup", self.setup or ())):
            for arg in argv:
                for name in _PLACEHOLDER.findall(arg):
                    if name not in PLACEHOLDERS:
                        raise ProjectConfigError(
                            f"{key}: unknown placeholder {{{name}}}; allowed: "
                            + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                        )
        if self.timeout <= 0:
            raise ProjectConfigError(f"benchmark.timeout must be a positive number of seconds, got {self.timeout}")
        for name in self.env:
            if not _ENV_NAME.match(name):
                raise ProjectConfigError(f"benchmark.env: {name!r} is not a variable name")
            if name in _RESERVED_ENV:
                raise ProjectConfigError(f"benchmark.env: {name} is set by the worker from the pinned cores")

    def render(self, argv: tuple[str, ...], values: Mapping[str, str]) -> list[str]:
        """Fill placeholders and resolve ``python`` to the worker's interpreter."""
        out = [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in argv]
        if out and out[0] in ("python", "python3"):
            out[0] = sys.executable
        return out


def _argv(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            parts = shlex.split(value)
        except ValueError as exc:
            raise ProjectConfigError(f"{key}: cannot split {value!r}: {exc}") from None
        return tuple(parts)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ProjectConfigError(f"{key} must be a list of strings or a string, got {type(value).__name__}")


def parse_project_config(text: str) -> ProjectConfig:
    """Parse the text of a ``perfhud.toml``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProjectConfigError(f"{FILE_NAME} is not valid TOML: {exc}") from None
    unknown_top = set(data) - {"benchmark"}
    if unknown_top:
        raise ProjectConfigError(f"unknown table(s) {sorted(unknown_top)} in {FILE_NAME}; allowed: [benchmark]")
    section = data.get("benchmark")
    if not isinstance(section, dict):
        raise ProjectConfigError(f"{FILE_NAME} needs a [benchmark] table with a command")
    allowed = {"command", "setup", "timeout", "env"}
    unknown = set(section) - allowed
    if unknown:
        raise ProjectConfigError(f"unknown key(s) {sorted(unknown)} in [benchmark]; allowed: {sorted(allowed)}")
    if "command" not in section:
        raise ProjectConfigError("benchmark.command is missing")
    timeout = section.get("timeout", 1800)
    if not isinstance(timeout, int) or isinstance(timeout, bool):
        raise ProjectConfigError(f"benchmark.timeout must be a whole number of seconds, got {timeout!r}")
    env = section.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ProjectConfigError("benchmark.env must be a table of strings")
    setup = _argv(section["setup"], "benchmark.setup") if "setup" in section else None
    return ProjectConfig(
        command=_argv(section["command"], "benchmark.command"),
        setup=setup or None,
        timeout=timeout,
        env=dict(env),
    )


def load_project_config(checkout: Path) -> ProjectConfig:
    """Read ``perfhud.toml`` from a checkout's root."""
    path = checkout / FILE_NAME
    if not path.is_file():
        raise ProjectConfigError(f"this commit has no {FILE_NAME} at the repository root; nothing to run")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ProjectConfigError(f"{FILE_NAME} is larger than {MAX_FILE_BYTES} bytes")
    return parse_project_config(path.read_text(encoding="utf-8", errors="replace"))
