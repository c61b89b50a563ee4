"""How much of a labelled file any detector with our settings could find: the known-noise bound.

Why: the recall targets only mean something next to what the data allows. This bound
credits a detector with what no real one has: the true per-commit noise of each series
(the file's `noise.approx_cv_of_commit_median`, read here for analysis only, never by a
detector), Gaussian noise with no drift, spikes or host speeds, the change's place known,
and plain means (the most efficient location on such noise). A true change counts as
findable when the step over its standard error reaches `z` after at most `max_lag` points
at the new level (fewer if the next change comes first) against at most `pre_window`
points since the previous change; the command passes the detector's longest lag, the slow
lane's `slow_max_lag`. A detector that must also reject drift, waves and hosts that hop,
and estimate the noise from the series, should not expect to find more with the same
`z_confirm`, lag and `pre_window` (it can only by luck: a noise estimate that came out
low, or noise that happened to push the step further out).
"""

from __future__ import annotations

import math
from typing import Iterable

from .scoring import SIZES, size_key


def findable(rel_change: float, cv: float, post: int, pre: int, *, z: float) -> bool:
    """A step of `rel_change` in a series whose commits scatter by `cv` stands `z` standard
    errors out after `post` points against `pre` reference points."""
    if post < 1 or pre < 1 or cv <= 0:
        return False
    se = cv * math.sqrt(1.0 / post + 1.0 / pre)
    return abs(math.log1p(rel_change)) / se >= z


def known_noise_recall(
    rows: Iterable[dict], *, z: float, max_lag: int, pre_window: int
) -> dict[str, float | None] | None:
    """Share of the true changes of each size that are `findable` (keys as `recall_by_size`),
    over the rows that carry the noise truth; None when none does."""
    found = {s: 0 for s in SIZES}
    total = {s: 0 for s in SIZES}
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
            post = sum(1 for i in measured if bounds[j] <= i < bounds[j + 1])
            total[size] += 1
            found[size] += findable(rel, cv, min(post, max_lag), min(pre, pre_window), z=z)
    if not known:
        return None
    return {str(s): (found[s] / total[s] if total[s] else None) for s in SIZES}
