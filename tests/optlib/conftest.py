"""Fixtures for optlib's tests: fresh warn-once state, so each test sees its own warnings, and
no remembered tuning choices (each test measures; the cache has its own tests)."""

from __future__ import annotations

import importlib.util
import os

import pytest

from optlib._log import reset_warnings
from optlib.launch import probe_tools


@pytest.fixture(autouse=True)
def _no_tune_cache(monkeypatch):
    monkeypatch.setenv("OPTLIB_TUNE_CACHE", "0")


@pytest.fixture(autouse=True)
def _fresh_warnings():
    reset_warnings()
    yield
    reset_warnings()


@pytest.fixture
def jemalloc_beside_openvino() -> str:
    """The path of jemalloc, for tests that run OpenVINO beside it. Outside CI a missing part
    skips the test with a message naming it; with ``CI=true`` (where .ci/run installs
    jemalloc and the test extras install OpenVINO) it fails it."""
    missing = []
    if importlib.util.find_spec("openvino") is None:
        missing.append("openvino (the backends extra)")
    jemalloc = probe_tools().jemalloc
    if jemalloc is None:
        missing.append("libjemalloc (Debian package libjemalloc2)")
    if missing:
        message = f"{' and '.join(missing)} not installed"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI requires {message}", pytrace=False)
        pytest.skip(message)
    return jemalloc
