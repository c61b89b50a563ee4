"""Named suites: which benchmarks, and how long each is timed.

``ci`` runs on every commit within a few minutes on 2 cores: every model family, eval fp32
eager against optlib, plus a training case, at batch sizes small enough that each timing
budget holds hundreds of iterations (a stable median needs many samples more than a big
batch). ``full`` is the whole supported matrix at the models' default batch sizes.

Every benchmark starts through ``optlib.launch``, in a suite or a selection (``--no-launcher``
turns it off): a preloaded jemalloc that keeps freed pages, and passive OpenMP waiting, are
how CPU inference and training are deployed, and they take the allocator's page faults out
of the figures.
Measured on a 2-vCPU KVM guest, the ``ci`` suite five times each way, runs alternating, one
pinned core: eager DLRM training 53-64 ms a step instead of 115-130 ms, and the CV of the
p50 across runs dlrm eval eager 1.4 % instead of 15.9 %, gcn eager / optlib 3.0 / 2.1 %
instead of 11.4 / 12.5 %, dlrm train optlib 5.6 % instead of 13.7 % (the other benchmarks
moved with the host: its fixed L2 matmul kernel had a CV of 9.7 and 13.3 % across the same
runs, its 256 MB copy 6.7 and 7.6 %). A second series of five runs with the launcher, on the
same host, put dlrm eval eager at 10.5 % (one run 20 % slow, optlib with it: their ratio's CV
was 4.0 %) and resnet18 optlib at 11.3 %: a quiet host stays the first condition.

``ci`` also times each model's eager and optlib side by side (``benchmarks.turns``): their
processes take turns in half-second blocks on the same core, so that a slow spell of the host
falls on both and their ratio, which change detection follows, keeps still. On a 2-vCPU guest
whose core speed moved by a fifth between runs, five runs each way, alternating: the CV of the
optlib/eager ratio was gcn 2.5 % side by side against 16.2 % one after the other, dlrm eval
2.7 against 26.4 %, bert 5.5 against 16.3 %, resnet18 1.6 against 1.6 % and dlrm train 4.3
against 4.2 %; the suite took a median 115 s against 109 s.
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
    side_by_side: bool = False


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
        side_by_side=True,
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
