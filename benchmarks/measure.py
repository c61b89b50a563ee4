"""The timing loop: warm up until the time per iteration settles, then time every iteration
for a time budget.

Why this shape: the first iterations of a CPU model are slow for reasons that have nothing
to do with its steady state (lazy compilation, oneDNN primitive creation, allocator growth,
page faults, frequency ramp-up). A fixed warm-up count is either too short for a compiled
model or wasteful for eager; so warm-up runs in windows and stops when two consecutive
windows have medians within a tolerance (bounded in time, and reported when it never
settled). Every timed iteration's latency is kept: the statistics downstream (percentiles,
Mann-Whitney U, change detection) need raw samples, not a mean. The garbage collector is
off while timing so that a collection cycle does not land in one iteration at random.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TimingPolicy", "Timing", "time_iterations"]


@dataclass(frozen=True)
class TimingPolicy:
    """How long to warm up and to measure.

    ``budget_s`` is the measuring time; at least ``min_iters`` and at most ``max_iters``
    iterations are timed whatever the budget. Warm-up runs at least ``warmup_min_iters``,
    then windows of about ``warmup_window_s`` (at least 3 iterations) until two consecutive
    window medians differ by at most ``warmup_rel_tol``, or ``warmup_max_s`` has passed.
    Timed side by side with other processes (``benchmarks.turns``), the budget is spent in
    blocks of about ``turn_block_s``.
    """

    budget_s: float = 5.0
    min_iters: int = 5
    max_iters: int = 20_000
    warmup_min_iters: int = 2
    warmup_max_s: float = 10.0
    warmup_window_s: float = 0.3
    warmup_rel_tol: float = 0.02
    turn_block_s: float = 0.5

    def __post_init__(self) -> None:
        if self.budget_s < 0 or self.warmup_max_s < 0 or self.warmup_window_s <= 0:
            raise ValueError(f"time budgets must be >= 0 (window > 0): {self}")
        if not 1 <= self.min_iters <= self.max_iters:
            raise ValueError(f"need 1 <= min_iters <= max_iters, got {self.min_iters}, "
                             f"{self.max_iters}")
        if self.warmup_min_iters < 1:
            raise ValueError(f"warmup_min_iters must be >= 1, got {self.warmup_min_iters}")
        if self.turn_block_s <= 0:
            raise ValueError(f"turn_block_s must be > 0, got {self.turn_block_s}")
        if not 0 < self.warmup_rel_tol < 1:
            raise ValueError(f"warmup_rel_tol must be in (0, 1), got {self.warmup_rel_tol}")


@dataclass
class Timing:
    """Per-iteration latencies in milliseconds (wall clock) and the process's CPU time per
    iteration, plus any per-iteration figures the step returned (a dict of name -> number,
    e.g. prefill and decode time of a generation).

    CPU time is kept beside wall time because on a shared machine a descheduled process
    keeps its wall clock running but not its CPU clock: for a single-threaded benchmark the
    CPU time is the code's cost with other tenants' time slices removed.
    """

    latencies_ms: list[float]
    cpu_ms: list[float] = field(default_factory=list)
    extras: dict[str, list[float]] = field(default_factory=dict)
    # (start, end) of each timed block on the system-wide monotonic clock: one block, or one
    # per turn when timed side by side.
    blocks: list[tuple[float, float]] = field(default_factory=list)
    warmup_iters: int = 0
    warmup_s: float = 0.0
    warmup_settled: bool = False
    first_iter_s: float = 0.0


def _timed(step: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter_ns()
    out = step()
    return (time.perf_counter_ns() - start) / 1e6, out


def _warm_up(step: Callable[[], Any], policy: TimingPolicy) -> tuple[int, float, bool, float]:
    start = time.perf_counter()
    times = [_timed(step)[0] for _ in range(policy.warmup_min_iters)]
    count, first_s = len(times), times[0] / 1e3
    per_iter_s = max(min(times) / 1e3, 1e-6)
    window = max(3, round(policy.warmup_window_s / per_iter_s))
    previous: float | None = None
    while True:
        if time.perf_counter() - start >= policy.warmup_max_s:
            return count, time.perf_counter() - start, False, first_s
        current = statistics.median(_timed(step)[0] for _ in range(window))
        count += window
        if previous is not None and abs(current - previous) <= policy.warmup_rel_tol * previous:
            return count, time.perf_counter() - start, True, first_s
        previous = current


def time_iterations(step: Callable[[], Any], policy: TimingPolicy,
                    end_turn: Callable[[], None] | None = None) -> Timing:
    """Warm up ``step`` and time it; ``step`` may return a dict of extra per-iteration
    figures, which are collected alongside the latencies.

    With ``end_turn`` (a member of a group timed side by side) the process ends its turn
    after the warm-up and after every block of about ``policy.turn_block_s``; the time until
    it runs again is not spent from the budget, and the first call after each turn is not
    timed (the other process has had the caches and the cores meanwhile)."""
    warmup_iters, warmup_s, settled, first_s = _warm_up(step, policy)
    latencies: list[float] = []
    cpu: list[float] = []
    extras: dict[str, list[float]] = {}
    if end_turn is not None:
        end_turn()
        step()
    gc.collect()
    gc.disable()
    try:
        deadline = time.perf_counter() + policy.budget_s
        block_end = time.perf_counter() + policy.turn_block_s
        blocks = [time.monotonic()]
        while len(latencies) < policy.max_iters and (
                len(latencies) < policy.min_iters or time.perf_counter() < deadline):
            if end_turn is not None and time.perf_counter() >= block_end:
                blocks.append(time.monotonic())
                paused_from = time.perf_counter()
                end_turn()
                step()
                deadline += time.perf_counter() - paused_from
                block_end = time.perf_counter() + policy.turn_block_s
                blocks.append(time.monotonic())
            cpu_start = time.process_time_ns()
            ms, out = _timed(step)
            cpu.append((time.process_time_ns() - cpu_start) / 1e6)
            latencies.append(ms)
            if isinstance(out, dict):
                for name, value in out.items():
                    extras.setdefault(name, []).append(float(value))
    finally:
        gc.enable()
    blocks.append(time.monotonic())
    return Timing(latencies, cpu, extras, list(zip(blocks[::2], blocks[1::2])), warmup_iters, warmup_s,
                  settled, first_s)
