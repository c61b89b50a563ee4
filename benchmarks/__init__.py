"""perfhud's CPU benchmark suite: a model zoo run stock (the baseline) and through optlib,
timed in pinned subprocesses, written to a TorchBench-compatible results file.

The public surface is small on purpose: run the suite from the command line
(``python -m benchmarks run --suite ci --out results.json``), read and validate a results
file with :func:`load_results`, and compare two with :func:`compare_results`.
"""

from __future__ import annotations

import importlib
from typing import Any

# Resolved on first use, so that importing one module of the package (change detection
# imports `benchmarks.stats`) loads only that module.
_EXPORTS = {
    "compare_results": "benchmarks.compare",
    "BenchmarkResult": "benchmarks.results",
    "ResultsError": "benchmarks.results",
    "ResultsFile": "benchmarks.results",
    "load_results": "benchmarks.results",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'benchmarks' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
