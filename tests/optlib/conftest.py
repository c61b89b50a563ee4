"""Fixtures for optlib's tests: fresh warn-once state, so each test sees its own warnings."""

from __future__ import annotations

import pytest

from optlib._log import reset_warnings


@pytest.fixture(autouse=True)
def _fresh_warnings():
    reset_warnings()
    yield
    reset_warnings()
