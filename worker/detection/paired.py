"""Is one detector setting better than another on the same series, or did the series happen
to favour it? A paired bootstrap over series.

Why: false alarms come in clumps. A series with strong waves or a host that keeps changing
speed raises three or more on its own, so the count moves a lot from one draw of series to
the next: with the default settings, twelve files of 300 series drawn from the same noise
model (`synthetic.py`, seeds 22-33) gave 18 to 45 false alarms each, and ten series raised 33
of the 316. A setting that looks better on one file is often only luckier there. Both
settings replay the same series, so resampling series (with replacement, the same resample
for both) and recomputing each figure gives the spread of the difference itself: what
remains once the series' own luck cancels. A difference whose interval excludes zero is one
that other series drawn from the same model would most likely show too.

Pure numpy: each resample is a vector of counts per series; every figure is a ratio of
sums, so all resamples are one matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .scoring import RATE_NAMES, SeriesOutcome, defined, rates

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.9


@dataclass(frozen=True)
class Difference:
    """One figure under settings A and B on the same series, and the interval of B - A at
    `level` over the resamples. `None` where the figure is undefined (no change of that size)."""

    name: str
    a: float | None
    b: float | None
    low: float | None
    high: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def clear(self) -> bool:
        """The interval excludes zero: B differs from A beyond the luck of the series."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def figure_names() -> list[str]:
    """The figures compared, in the order `compare` returns them."""
    return list(RATE_NAMES)


def compare(
    a: Sequence[SeriesOutcome],
    b: Sequence[SeriesOutcome],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> list[Difference]:
    """Every figure of `figure_names` for A and B (the outcomes of the same series, in the
    same order, under two settings) with the `level` interval of B - A over `resamples`
    bootstrap resamples of the series."""
    if len(a) != len(b):
        raise ValueError(f"A has {len(a)} series and B {len(b)}; a paired comparison needs the same series")
    if not a:
        raise ValueError("no series to compare")
    for i, (x, y) in enumerate(zip(a, b)):
        if x.commits != y.commits or x.total_by_size != y.total_by_size:
            raise ValueError(f"series {i} differs between A and B (commits or true changes); not the same series")
    weights = _weights(len(a), resamples, level, seed)
    figures_a, figures_b = _figures(a, weights), _figures(b, weights)
    out = []
    for name in figure_names():
        fa, fb = figures_a[name], figures_b[name]
        low, high = _interval(fb[1:] - fa[1:], level)
        out.append(Difference(name, defined(fa[0]), defined(fb[0]), low, high))
    return out


def intervals(
    outcomes: Sequence[SeriesOutcome],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> dict[str, tuple[float | None, float | None]]:
    """The `level` bootstrap interval of each figure of one setting over its series: how far
    the figure could move on other series drawn from the same model."""
    if not outcomes:
        raise ValueError("no series")
    figures = _figures(outcomes, _weights(len(outcomes), resamples, level, seed))
    return {name: _interval(figures[name][1:], level) for name in figure_names()}


def _weights(n: int, resamples: int, level: float, seed: int) -> np.ndarray:
    """Row 0 counts each of the n series once (the series as they are); the others are
    bootstrap resamples (how many times each series is drawn)."""
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    return np.vstack((np.ones(n), rng.multinomial(n, np.full(n, 1.0 / n), size=resamples)))


def _interval(values: np.ndarray, level: float) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if not values.size:
        return None, None
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def _figures(outcomes: Sequence[SeriesOutcome], weights: np.ndarray) -> dict[str, np.ndarray]:
    """Each figure for each row of `weights` (per-series counts), as `Tally.summary` has it."""
    return rates(
        weights @ np.array([o.detections for o in outcomes], dtype=float),
        weights @ np.array([o.matched for o in outcomes], dtype=float),
        weights @ np.array([o.commits for o in outcomes], dtype=float),
        weights @ np.array([o.found_by_size for o in outcomes], dtype=float),
        weights @ np.array([o.total_by_size for o in outcomes], dtype=float),
    )
