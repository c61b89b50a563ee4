"""Core lists in the taskset/numactl syntax, as the suite's planner and the pinned workers read
and write them."""

from __future__ import annotations

import pytest

from benchmarks.cores import format_cores, parse_cores


@pytest.mark.parametrize(("spec", "cores"), [
    ("0", (0,)),
    ("2-7", (2, 3, 4, 5, 6, 7)),
    ("0,2,4", (0, 2, 4)),
    ("4-5,1,1", (1, 4, 5)),
    (" 3 - 3 ".replace(" ", ""), (3,)),
])
def test_parse_cores(spec: str, cores: tuple[int, ...]) -> None:
    assert parse_cores(spec) == cores
    assert parse_cores(format_cores(cores)) == cores


@pytest.mark.parametrize(("spec", "message"), [
    ("", "empty core list"),
    ("a", "is not N or N-M"),
    ("3-1", "the end is below the start"),
    ("1;rm -rf /", "is not N or N-M"),
    ("5000", "beyond"),
    ("-1", "is not N or N-M"),
    ("1-x", "is not N or N-M"),
])
def test_parse_cores_rejects(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cores(spec)


def test_format_cores_compacts_ranges() -> None:
    assert format_cores([9, 2, 3, 4]) == "2-4,9"
