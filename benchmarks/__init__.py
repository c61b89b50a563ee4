"""perfhud's CPU benchmark suite: a model zoo run stock (the baseline) and through optlib,
timed in pinned subprocesses, written to a TorchBench-compatible results file.

The public surface is small on purpose: run the suite from the command line
(``python -m benchmarks run --suite ci --out results.json``), read and validate a results
file with :func:`load_results`, and compare two with :func:`compare_results`.
"""

from benchmarks.compare import compare_results
from benchmarks.results import BenchmarkResult, ResultsError, ResultsFile, load_results

__all__ = ["BenchmarkResult", "ResultsError", "ResultsFile", "compare_results", "load_results"]
