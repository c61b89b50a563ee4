"""Core lists in the taskset/numactl syntax (``"2-7,9"``), shared by the suite's planner and
the platform's pinned workers: both hand such lists to the same binding tools, so they must
read and write them alike. No imports beyond the standard library: the worker's process
reads it without loading the suite's models or torch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
MAX_CPU = 4096


def parse_cores(spec: str) -> tuple[int, ...]:
    """``"2-7,9"`` -> ``(2, 3, 4, 5, 6, 7, 9)``; sorted, without duplicates."""
    if not spec or not spec.strip():
        raise ValueError("empty core list; expected e.g. '2-7' or '0,2,4'")
    cores: set[int] = set()
    for part in spec.split(","):
        match = _RANGE.match(part.strip())
        if not match:
            raise ValueError(f"bad core list {spec!r}: {part.strip()!r} is not N or N-M")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise ValueError(f"bad core range {part.strip()!r} in {spec!r}: the end is below the start")
        if high >= MAX_CPU:
            raise ValueError(f"core {high} in {spec!r} is beyond {MAX_CPU - 1}")
        cores.update(range(low, high + 1))
    return tuple(sorted(cores))


def format_cores(cores: Sequence[int]) -> str:
    """The inverse of :func:`parse_cores`: ``(2, 3, 4, 9)`` -> ``"2-4,9"``."""
    ordered = sorted(set(cores))
    parts: list[str] = []
    start = prev = None
    for core in ordered:
        if start is None:
            start = prev = core
        elif core == prev + 1:
            prev = core
        else:
            parts.append(f"{start}-{prev}" if prev != start else str(start))
            start = prev = core
    if start is not None:
        parts.append(f"{start}-{prev}" if prev != start else str(start))
    return ",".join(parts)
