"""optlib's logger and its warn-once helper.

A pass that cannot apply to a model must say so exactly once per (pass, reason): a
production service that calls ``optimize`` for every request batch would otherwise drown its
logs, and a user who never sees the warning would believe the model was optimized.
"""

from __future__ import annotations

import logging
import threading
import warnings

logger = logging.getLogger("optlib")

_seen: set[tuple[str, str]] = set()
_seen_lock = threading.Lock()


class OptlibWarning(UserWarning):
    """An optimization was skipped or fell back; the model still runs, only slower."""


def warn_once(key: str, message: str) -> bool:
    """Warn with ``message`` unless the same ``(key, message)`` was already warned.

    Returns whether a warning was emitted, so callers and tests can tell.
    """
    with _seen_lock:
        if (key, message) in _seen:
            return False
        _seen.add((key, message))
    warnings.warn(message, OptlibWarning, stacklevel=3)
    logger.warning(message)
    return True


def reset_warnings() -> None:
    """Forget which warnings were emitted (for tests that check a warning appears)."""
    with _seen_lock:
        _seen.clear()
