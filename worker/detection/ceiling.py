"""How much of a labelled file any detector with our settings could find: the known-noise bound.

Why: the recall targets only mean something next to what the data allows. This bound
credits a detector with what no real one has: the true per-commit noise of each series
(the file's `noise.approx_cv_of_commit_median`, read here for analysis only, never by a
detector), Gaussian noise with no drift, spikes or host speeds, the change's place known,
and plain means (the most efficient location on such noise). A true change counts as
findable when the step over its standard error reaches `z` after at least `min_post` and at
most `max_lag` points at the new level (fewer if the next change comes first) against at
most `pre_window` points since the previous change; the command passes the detector's
longest lag, the slow lane's `slow_max_lag`. A detector that must also reject drift, waves
and hosts that hop, and estimate the noise from the series, should not expect to find more
with the same `z_confirm`, lag and `pre_window` (it can only by luck: a noise estimate that
came out low, or noise that happened to push the step further out).

The bound's delays, counted as the evaluation counts a detector's (the commit of the first
point at which the step is findable, minus the commit of the change), show what its recall
costs: a small step on a noisy series needs many points, whoever detects it. On the labelled
dev file, at z 5 and up to 30 points: R@5% 92.2 with a delay p90 of 11 commits; capped at 15
points: R@5% 84.4, p90 6; a p90 of 6 beside an R@5% over 90 takes a z near 4 (92.2 at 15
points), which only a known noise affords.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .scoring import SIZES, size_key


def findable(rel_change: float, cv: float, post: int, pre: int, *, z: float) -> bool:
    """A step of `rel_change` in a series whose commits scatter by `cv` stands `z` standard
    errors out after `post` points against `pre` reference points."""
    if post < 1 or pre < 1 or cv <= 0:
        return False
    se = cv * math.sqrt(1.0 / post + 1.0 / pre)
    return abs(math.log1p(rel_change)) / se >= z


@dataclass(frozen=True)
class KnownNoiseBound:
    """What the bound finds: `recall_by_size` (keys as the evaluation's) and the median and
    90th percentile of the delays of what it finds, in commits."""

    recall_by_size: dict[str, float | None]
    delay_median: float | None
    delay_p90: float | None


def points_to_find(rel_change: float, cv: float, post: int, pre: int, *, z: float, min_post: int) -> int | None:
    """The fewest points at the new level, at least `min_post` and at most `post`, after
    which the step is `findable`; None when `post` points are not enough."""
    for points in range(min_post, post + 1):
        if findable(rel_change, cv, points, pre, z=z):
            return points
    return None


def known_noise_bound(
    rows: Iterable[dict], *, z: float, max_lag: int, pre_window: int, min_post: int
) -> KnownNoiseBound | None:
    """Share of the true changes of each size that are findable, and their delays, over the
    rows that carry the noise truth; None when none does."""
    found = {s: 0 for s in SIZES}
    total = {s: 0 for s in SIZES}
    delays: list[int] = []
    known = 0
    for row in rows:
        noise = row.get("noise") or {}
        if "approx_cv_of_commit_median" not in noise:
            continue
        known += 1
        try:
            cv = float(noise["approx_cv_of_commit_median"])
            measured = [i for i, samples in enumerate(row["raw"]) if samples]
            changes = sorted(row["changes"], key=lambda c: int(c["index"]))
            bounds = [0] + [int(c["index"]) for c in changes] + [int(row.get("n_commits", len(row["raw"])))]
            sized = [(size_key(float(c["magnitude"])), float(c.get("rel_change", c["magnitude"]))) for c in changes]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"series {row.get('id', '?')}: its noise or changes cannot be read ({exc})") from exc
        for j, (size, rel) in enumerate(sized, start=1):
            pre = sum(1 for i in measured if bounds[j - 1] <= i < bounds[j])
            after = [i for i in measured if bounds[j] <= i < bounds[j + 1]]
            total[size] += 1
            points = points_to_find(rel, cv, min(len(after), max_lag), min(pre, pre_window), z=z, min_post=min_post)
            if points is not None:
                found[size] += 1
                delays.append(after[points - 1] - bounds[j])
    if not known:
        return None
    return KnownNoiseBound(
        recall_by_size={str(s): (found[s] / total[s] if total[s] else None) for s in SIZES},
        delay_median=float(np.median(delays)) if delays else None,
        delay_p90=float(np.percentile(delays, 90)) if delays else None,
    )
