"""Compare two results files: per benchmark metric the ratio B/A, with a Mann-Whitney U test on
the raw samples, and a marker where the change is significant.

The ratio is the Hodges-Lehmann one, the median of the ratios of every pair of samples (the
shift that goes with the Mann-Whitney test), not the ratio of the two medians: on a host
whose core switches between two speeds, each median can land on either, and a run whose
slow share went from 45 to 55 % read as nearly twice as slow with the same code (see
`stats.hodges_lehmann_log_ratio`). Metrics that may be zero or negative fall back to the
ratio of medians.

A change is flagged only when it is both statistically significant (p < ``alpha``) and
large enough to matter (``min_change``): with thousands of samples a 0.3 % shift is
"significant" and irrelevant, and with few samples a 15 % wobble is noise.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from benchmarks.results import BenchmarkResult, ResultsFile
from benchmarks.stats import mann_whitney_p, pairwise_ratio

__all__ = ["Comparison", "compare_results", "format_comparisons"]


@dataclass(frozen=True)
class Comparison:
    key: str
    unit: str
    direction: str
    median_a: float | None
    median_b: float | None
    p_value: float | None
    verdict: str  # "worse", "better", "same", "missing in A", "missing in B", "not run"
    ratio: float | None = None  # B over A (see the module docstring)

    @property
    def significant(self) -> bool:
        return self.verdict in ("worse", "better")


def _judge(a: BenchmarkResult, b: BenchmarkResult, alpha: float, min_change: float
           ) -> Comparison:
    if a.status != "ok" or b.status != "ok":
        return Comparison(a.metric_key, a.unit, a.direction, None, None, None, "not run")
    ma, mb = statistics.median(a.samples), statistics.median(b.samples)
    p = mann_whitney_p(a.samples, b.samples)
    ratio = pairwise_ratio(b.samples, a.samples)
    verdict = "same"
    if p is not None and p < alpha and ratio is not None and abs(ratio - 1) >= min_change:
        got_bigger = ratio > 1
        verdict = "worse" if got_bigger == (a.direction == "lower") else "better"
    return Comparison(a.metric_key, a.unit, a.direction, ma, mb, p, verdict, ratio)


def compare_results(a: ResultsFile, b: ResultsFile, alpha: float = 0.01,
                    min_change: float = 0.02, primary_only: bool = True) -> list[Comparison]:
    """One comparison per benchmark metric present in either file (primary ones by default)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if min_change < 0:
        raise ValueError(f"min_change must be >= 0, got {min_change}")

    def index(results: ResultsFile) -> dict[str, BenchmarkResult]:
        return {r.metric_key: r for r in results.results if r.primary or not primary_only}

    ia, ib = index(a), index(b)
    out = []
    for key in sorted(set(ia) | set(ib)):
        if key not in ia or key not in ib:
            present = ia.get(key) or ib[key]
            out.append(Comparison(key, present.unit, present.direction, None, None, None,
                                  "missing in A" if key not in ia else "missing in B"))
        else:
            out.append(_judge(ia[key], ib[key], alpha, min_change))
    return out


_MARK = {"worse": "!! worse", "better": "++ better"}


def format_comparisons(comparisons: list[Comparison]) -> str:
    header = ("benchmark metric", "A median", "B median", "B/A", "p", "")
    rows = [header]
    for c in comparisons:
        rows.append((
            c.key,
            "-" if c.median_a is None else f"{c.median_a:.4g} {c.unit}",
            "-" if c.median_b is None else f"{c.median_b:.4g} {c.unit}",
            "-" if c.ratio is None else f"{c.ratio:.3f}",
            "-" if c.p_value is None else f"{c.p_value:.2g}",
            _MARK.get(c.verdict, c.verdict if c.verdict != "same" else ""),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    worse = sum(c.verdict == "worse" for c in comparisons)
    better = sum(c.verdict == "better" for c in comparisons)
    lines.append(f"\n{worse} significantly worse, {better} significantly better, "
                 f"{len(comparisons)} compared (Mann-Whitney U on raw samples)")
    return "\n".join(lines)
