"""Named suites: which benchmarks, and how long each is timed.

``ci`` runs on every commit within a few minutes on 2 cores: every model family, eval fp32
eager against optlib, plus a training case, at batch sizes small enough that each timing
budget holds hundreds of iterations (a stable median needs many samples more than a big
batch). ``full`` is the whole supported matrix at the models' default batch sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.measure import TimingPolicy

__all__ = ["SUITES", "Suite", "SuiteEntry", "get_suite"]


@dataclass(frozen=True)
class SuiteEntry:
    model: str
    mode: str
    precision: str
    variant: str
    batch_size: int | None = None


@dataclass(frozen=True)
class Suite:
    """``entries`` of ``None`` means every supported combination."""

    name: str
    description: str
    entries: tuple[SuiteEntry, ...] | None
    policy: TimingPolicy
    timeout_s: float


def _pairs(model: str, mode: str, batch: int | None) -> tuple[SuiteEntry, ...]:
    return tuple(SuiteEntry(model, mode, "fp32", v, batch) for v in ("eager", "optlib"))


SUITES = {
    "ci": Suite(
        name="ci",
        description="every family, eval fp32 eager vs optlib, plus training; minutes on 2 cores",
        entries=(*_pairs("resnet18", "eval", 2), *_pairs("bert_base", "eval", 1),
                 *_pairs("dlrm", "eval", 128), *_pairs("gcn", "eval", 1),
                 *_pairs("dlrm", "train", 128)),
        policy=TimingPolicy(budget_s=4.0, min_iters=10, warmup_max_s=4.0),
        timeout_s=180.0,
    ),
    "full": Suite(
        name="full",
        description="the whole matrix: every model, mode, precision and variant",
        entries=None,
        policy=TimingPolicy(budget_s=15.0, min_iters=20, warmup_max_s=20.0),
        timeout_s=1800.0,
    ),
}


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    return SUITES[name]
