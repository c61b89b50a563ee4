"""The timing loop and the instance combination, with fake steps and outcomes."""

from __future__ import annotations

import itertools
import time

import pytest

from benchmarks.measure import TimingPolicy, time_iterations
from benchmarks.summarize import BenchmarkIdentity, merge_repeats, summarize


def test_warmup_settles_on_a_steady_step_then_times_at_least_min_iters() -> None:
    calls = itertools.count()

    def step() -> dict[str, float]:
        n = next(calls)
        time.sleep(0.004 if n < 3 else 0.001)  # slow first iterations, then steady
        return {"n": n}

    timing = time_iterations(step, TimingPolicy(budget_s=0.0, min_iters=7, warmup_max_s=2.0,
                                                warmup_window_s=0.01, warmup_rel_tol=0.5))
    assert timing.warmup_settled
    assert timing.warmup_iters >= 3
    assert len(timing.latencies_ms) == 7 == len(timing.cpu_ms)
    assert all(ms >= 1.0 for ms in timing.latencies_ms)
    # Timed iterations come after warm-up: their extras continue the call count.
    assert timing.extras["n"][0] == timing.warmup_iters


def test_budget_bounds_timing_and_max_iters_caps_it() -> None:
    timing = time_iterations(lambda: None, TimingPolicy(budget_s=0.05, min_iters=1,
                                                        max_iters=50, warmup_max_s=0.0))
    assert len(timing.latencies_ms) == 50


def test_side_by_side_the_budget_is_timed_in_blocks_between_turns() -> None:
    """A member of a group ends its turn after the warm-up and between blocks; the pause is
    neither inside a block nor spent from the budget, and each block starts after one
    untimed call."""
    calls = itertools.count()
    turns: list[float] = []

    def step() -> dict[str, float]:
        time.sleep(0.001)
        return {"n": next(calls)}

    def end_turn() -> None:
        turns.append(time.monotonic())
        time.sleep(0.05)  # another member's turn

    policy = TimingPolicy(budget_s=0.04, min_iters=1, warmup_max_s=0.0, turn_block_s=0.01)
    timing = time_iterations(step, policy, end_turn=end_turn)
    blocks = timing.blocks
    assert len(blocks) >= 3 and len(turns) == len(blocks)
    # every turn ended before its block began, and no block contains a pause
    assert all(turn < start for turn, (start, _) in zip(turns, blocks))
    assert all(end <= turn for (_, end), turn in zip(blocks, turns[1:]))
    # the pauses (0.05 s each) were not spent from the 0.04 s budget: it still timed blocks
    # after the first pause
    assert blocks[-1][0] - blocks[0][0] > 0.05
    # one untimed call after each turn: timed calls continue the count past those
    extras = timing.extras["n"]
    assert next(calls) == timing.warmup_iters + len(turns) + len(timing.latencies_ms)
    assert extras[0] == timing.warmup_iters + 1


def test_warmup_is_bounded_when_never_steady() -> None:
    durations = itertools.cycle([0.001, 0.004])

    def step() -> None:
        time.sleep(next(durations))

    timing = time_iterations(step, TimingPolicy(budget_s=0.0, min_iters=1, warmup_max_s=0.05,
                                                warmup_window_s=0.001, warmup_rel_tol=0.01))
    assert timing.warmup_s < 0.5


@pytest.mark.parametrize("kwargs", [{"budget_s": -1}, {"min_iters": 0},
                                    {"min_iters": 5, "max_iters": 4}, {"warmup_rel_tol": 0}])
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TimingPolicy(**kwargs)


IDENT = BenchmarkIdentity(model="resnet18", mode="eval", precision="fp32", variant="optlib",
                          family="cnn", scenario="realtime", command=("python",), config={})


def outcome(latencies: list[float], batch: int = 1, accuracy: float = 1e-6) -> dict:
    return {"status": "ok", "error": None, "latencies_ms": latencies,
            "cpu_ms": latencies, "extras": {}, "samples_per_batch": batch, "setup_s": 1.0,
            "peak_rss_mb": 100.0, "accuracy": {"metric": "max_rel_error", "value": accuracy},
            "config": {"level": "O1"}}


def test_instances_combine_latency_over_all_and_throughput_summed() -> None:
    rows, metrics = summarize(IDENT, [outcome([10.0, 10.0, 10.0]),
                                      outcome([20.0, 20.0, 20.0], accuracy=3e-6)])
    by_metric = {r.metric: r for r in rows}
    assert sorted(by_metric["latency_p50"].samples) == [10.0] * 3 + [20.0] * 3
    assert metrics["resnet18-eval-fp32-optlib_throughput"] == pytest.approx(100 + 50)
    assert by_metric["throughput"].samples == (150.0, 150.0, 150.0)
    assert by_metric["latency_p50"].primary and by_metric["throughput"].primary
    assert (by_metric["throughput"].direction, by_metric["latency_p50"].direction) == (
        "higher", "lower")
    assert by_metric["max_rel_error"].samples == (3e-6,)  # the worst instance
    assert by_metric["latency_p50"].config["variant_config"] == {"level": "O1"}


def test_one_failed_instance_fails_the_benchmark() -> None:
    rows, metrics = summarize(IDENT, [outcome([1.0]), {"status": "failed",
                                                         "error": "RuntimeError: boom"}])
    assert metrics == {}
    assert {r.status for r in rows} == {"failed"}
    assert all(r.error == "RuntimeError: boom" and r.samples == () for r in rows)


def _on(core: int, result: dict) -> dict:
    return {**result, "runtime": {"affinity": [core]}}


def test_repeated_processes_pool_per_instance_not_across_instances() -> None:
    # Two instances (cores 0 and 1), each run in two processes one after another; the second
    # repeat lists its instances in the other order.
    first = [_on(0, outcome([10.0, 10.0])), _on(1, outcome([20.0, 20.0], accuracy=2e-6))]
    second = [_on(1, outcome([22.0, 22.0], accuracy=5e-6)), _on(0, outcome([12.0, 12.0]))]
    merged = {o["runtime"]["affinity"][0]: o for o in merge_repeats([first, second])}
    assert merged[0]["latencies_ms"] == [10.0, 10.0, 12.0, 12.0]
    assert merged[1]["latencies_ms"] == [20.0, 20.0, 22.0, 22.0]
    assert merged[0]["processes"] == merged[1]["processes"] == 2
    assert merged[1]["accuracy"]["value"] == 5e-6
    rows, metrics = summarize(IDENT, list(merged.values()))
    # Throughput sums the two instances' medians, each pooled over its own processes.
    assert metrics["resnet18-eval-fp32-optlib_throughput"] == pytest.approx(
        (100 + 1000 / 12) / 2 + (50 + 1000 / 22) / 2)
    assert first[0]["latencies_ms"] == [10.0, 10.0]  # the inputs are not changed


def test_a_failed_repeat_fails_the_benchmark() -> None:
    failed = {"status": "failed", "error": "RuntimeError: second process"}
    merged = merge_repeats([[_on(0, outcome([1.0]))], [failed]])
    rows, metrics = summarize(IDENT, merged)
    assert metrics == {} and {r.error for r in rows} == {"RuntimeError: second process"}
