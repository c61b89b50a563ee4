"""Fixtures for optlib's tests: fresh warn-once state, so each test sees its own warnings, and
no remembered tuning choices (each test measures; the cache has its own tests)."""

from __future__ import annotations

import pytest

from optlib._log import reset_warnings


@pytest.fixture(autouse=True)
def _no_tune_cache(monkeypatch):
    monkeypatch.setenv("OPTLIB_TUNE_CACHE", "0")


@pytest.fixture(autouse=True)
def _fresh_warnings():
    reset_warnings()
    yield
    reset_warnings()
