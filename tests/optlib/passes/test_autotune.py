"""The measurement step: the fastest accurate candidate wins; broken or wrong ones never do."""

from __future__ import annotations

import re
import time

import pytest
import torch

from optlib.passes.autotune import (
    _FEWER_THREADS_SLOWDOWN,
    add_thread_variants,
    relative_error,
    select_fastest,
    split_threads,
    thread_counts,
)


def _runner(delay: float, offset: float = 0.0):
    def run(x):
        time.sleep(delay)
        return x * 2 + offset
    return run


def _broken():
    raise RuntimeError("cannot compile")


def test_fastest_accurate_candidate_is_chosen_and_failures_are_reported():
    x = torch.ones(3)
    builders = {
        "slow": lambda: _runner(0.004),
        "fast_but_wrong": lambda: _runner(0.0, offset=1.0),
        "fast": lambda: _runner(0.0005),
        "broken": _broken,
    }
    chosen, runner, report = select_fastest(builders, (x,), x * 2, 1e-4, seconds_per_candidate=0.02)
    assert chosen == "fast"
    torch.testing.assert_close(runner(x), x * 2)
    by_name = {c.name: c for c in report.candidates}
    assert by_name["fast_but_wrong"].status == "inaccurate"
    assert by_name["broken"].status.startswith("failed: RuntimeError: cannot compile")
    assert by_name["slow"].median_ms > by_name["fast"].median_ms
    assert report.to_dict()["chosen"] == "fast"


def test_no_working_candidate_is_an_error():
    with pytest.raises(RuntimeError, match="no candidate runner worked"):
        select_fastest({"broken": _broken}, (torch.ones(1),), torch.ones(1), 1e-4, 0.01)


@pytest.mark.parametrize("out, ref, expected", [
    (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]), 0.0),
    (torch.tensor([1.0, 2.2]), torch.tensor([1.0, 2.0]), 0.1),
    ((torch.ones(2), torch.zeros(2)), (torch.ones(2), torch.zeros(2)), 0.0),
    (torch.ones(3), torch.ones(2), float("inf")),
])
def test_relative_error(out, ref, expected):
    assert relative_error(out, ref) == pytest.approx(expected)


@pytest.mark.parametrize("threads, expected", [(1, (1,)), (2, (2, 1)), (8, (8, 4, 1))])
def test_thread_counts(threads, expected):
    assert thread_counts(threads) == expected


def test_thread_variants_share_one_build_and_run_at_their_count():
    builds, seen = [], []

    def build():
        builds.append(1)
        return lambda x: seen.append(torch.get_num_threads()) or x

    before = torch.get_num_threads()
    variants = add_thread_variants({"torchscript": build, "openvino": lambda: (lambda x: x)}, {"torchscript"}, 4)
    assert set(variants) == {"torchscript", "torchscript@2t", "torchscript@1t", "openvino"}
    for name in ("torchscript@1t", "torchscript@2t", "torchscript"):
        variants[name]()(torch.ones(1))
    assert len(builds) == 1
    assert seen == [1, 2, torch.get_num_threads()]
    assert torch.get_num_threads() == before
    assert split_threads("torchscript@2t") == ("torchscript", 2) and split_threads("eager") == ("eager", None)


def _twinned(delays: dict[str, float], built: list[str]) -> dict:
    """Builders named as `add_thread_variants` names them, each sleeping its own delay and
    noting in `built` that it was built."""
    return _recording({name: _runner(delay) for name, delay in delays.items()}, built)


def _recording(runners: dict, built: list[str]) -> dict:
    """A builder for each runner that notes in `built` that it was built."""
    def builder(name):
        def build():
            built.append(name)
            return runners[name]
        return build
    return {name: builder(name) for name in runners}


def test_twins_at_fewer_threads_are_not_built_where_the_first_candidate_lost_by_far_with_them():
    x = torch.ones(3)
    built: list[str] = []
    # Delays far apart: a loaded machine's sleeps overshoot by a millisecond or more.
    delays = {"eager": 0.006, "eager@1t": 0.012, "inductor": 0.002, "inductor@1t": 0.0005}
    chosen, _, report = select_fastest(_twinned(delays, built), (x,), x * 2, 1e-4, seconds_per_candidate=0.02)
    by_name = {c.name: c for c in report.candidates}
    assert "inductor@1t" not in built
    skipped = re.fullmatch(r"skipped: eager@1t ran (\d+\.\d+)x slower than eager", by_name["inductor@1t"].status)
    assert skipped and float(skipped.group(1)) >= _FEWER_THREADS_SLOWDOWN
    assert by_name["inductor@1t"].median_ms is None
    assert chosen == "inductor"
    assert [c.name for c in report.candidates] == list(delays)


def test_twins_at_fewer_threads_race_where_the_first_candidate_kept_up_with_them():
    x = torch.ones(3)
    built: list[str] = []
    # Listed after a candidate without twins: the first with twins is the probe all the same.
    delays = {"openvino": 0.006, "eager": 0.004, "eager@1t": 0.004, "inductor": 0.003, "inductor@1t": 0.001}
    chosen, _, report = select_fastest(_twinned(delays, built), (x,), x * 2, 1e-4, seconds_per_candidate=0.02)
    assert sorted(built) == sorted(delays)
    assert all(c.status == "ok" for c in report.candidates)
    assert chosen == "inductor@1t"


def test_the_thread_probe_waits_until_the_first_candidate_times_alike():
    # What ran before (builds, another model's race) can hold a core for a while: here eager's
    # first calls take 50, 30 and 15 ms, later ones 4 ms, and its twin 8 ms. Timed on those
    # first calls, eager would look slower than its twin and every twin would be built.
    x = torch.ones(3)
    built: list[str] = []
    slow_start = [0.05, 0.03, 0.015]

    def settling(t):
        time.sleep(slow_start.pop(0) if slow_start else 0.004)
        return t * 2

    runners = {"eager": settling, "eager@1t": _runner(0.008), "inductor": _runner(0.003),
               "inductor@1t": _runner(0.003)}
    _, _, report = select_fastest(_recording(runners, built), (x,), x * 2, 1e-4, seconds_per_candidate=0.02)
    assert "inductor@1t" not in built
    assert {c.name: c.status for c in report.candidates}["inductor@1t"].startswith("skipped: eager@1t")


def test_a_hopeless_candidate_leaves_the_timing_race_early():
    x = torch.ones(3)
    builders = {"slow": lambda: _runner(0.02), "fast": lambda: _runner(0.0005)}
    _, _, report = select_fastest(builders, (x,), x * 2, 1e-4, seconds_per_candidate=0.3)
    calls = {c.name: c.timed_calls for c in report.candidates}
    # Both were timed in the first round; after it only the contender kept running.
    assert calls["slow"] == 3 and calls["fast"] > 3 * calls["slow"]


def test_a_win_inside_the_noise_margin_goes_to_the_candidate_listed_first():
    x = torch.ones(3)
    # "simple" and "fancy" take the same time: the tie goes to the one listed first, in
    # either order, instead of to whichever the noise favoured.
    for order in (("simple", "fancy"), ("fancy", "simple")):
        builders = {name: (lambda: _runner(0.02)) for name in order}
        chosen, _, _ = select_fastest(builders, (x,), x * 2, 1e-4, seconds_per_candidate=0.05)
        assert chosen == order[0]


def test_a_candidate_can_be_given_its_own_form_of_the_inputs():
    x = torch.ones(2, 3)
    seen: dict[str, list[bool]] = {"dense": [], "strided": []}

    def recording(name):
        def run(t):
            seen[name].append(t.is_contiguous())
            return t * 2
        return lambda: run

    builders = {"dense": recording("dense"), "strided": recording("strided")}
    select_fastest(builders, (x.t().contiguous().t(),), x * 2, 1e-4, seconds_per_candidate=0.01,
                   args_for={"dense": (x,)})
    assert set(seen["dense"]) == {True} and set(seen["strided"]) == {False}



def test_the_race_waits_for_a_runtime_with_its_own_pool_before_timing_the_next():
    # A runtime's workers stay busy after its call returns; the next candidate must not be
    # timed in that window. The gap between the pooled runtime's last call of a block and the
    # next candidate's first call is what the race leaves them.
    x = torch.ones(3)
    events: list[tuple[str, float]] = []

    def recording(name):
        def run(t):
            events.append((name, time.perf_counter()))
            # A millisecond each, so that neither trails the other by the factor that drops a
            # hopeless candidate after the first round (microsecond calls on a busy machine did).
            time.sleep(0.001)
            return t * 2
        return lambda: run

    builders = {"pooled": recording("pooled"), "torch": recording("torch")}
    select_fastest(builders, (x,), x * 2, 1e-4, seconds_per_candidate=0.0, min_rounds=2,
                   own_pools=frozenset({"pooled"}))
    race = events[2:]  # after the one accuracy-check call each
    gaps = [later[1] - earlier[1] for earlier, later in zip(race, race[1:])
            if earlier[0] == "pooled" and later[0] == "torch"]
    assert len(gaps) == 2 and min(gaps) >= 0.1


@pytest.mark.parametrize(("pooled_delay", "chosen"), [(0.0115, "pooled"), (0.016, "torch")])
def test_a_runtime_with_its_own_pool_is_preferred_when_close_to_the_fastest(pooled_delay, chosen):
    """An OpenMP runner stalls at every barrier when another process shares the cores, where a
    runtime with its own pool degrades gracefully: within 20 % of the fastest, the pooled one
    is chosen; further behind, the fastest."""
    x = torch.ones(3)
    builders = {"torch": lambda: _runner(0.010), "pooled": lambda: _runner(pooled_delay)}
    got, _, _ = select_fastest(builders, (x,), x * 2, 1e-4, seconds_per_candidate=0.1,
                               own_pools=frozenset({"pooled"}))
    assert got == chosen


def test_between_runtimes_with_their_own_pools_a_tie_goes_to_the_one_listed_first(monkeypatch):
    """Two pooled runtimes as fast as each other, both a little behind the fastest OpenMP
    runner: the earlier listed is chosen every time, not whichever the noise favoured. The
    race reads a clock that only the runners move: with real sleeps a loaded machine's
    overshoot exceeded the 2 % tie margin and let the noise pick."""
    from types import SimpleNamespace

    from optlib.passes import autotune

    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(autotune, "time", SimpleNamespace(perf_counter=lambda: clock.now, sleep=lambda s: None))

    def runner(delay: float):
        def run(x):
            clock.now += delay
            return x * 2
        return run

    x = torch.ones(3)
    # "second" is 1 % faster: inside the 2 % tie margin, so no win.
    builders = {"torch": lambda: runner(0.027), "first": lambda: runner(0.030), "second": lambda: runner(0.0297)}
    for _ in range(3):
        got, _, report = select_fastest(builders, (x,), x * 2, 1e-4, seconds_per_candidate=0.3,
                                        own_pools=frozenset({"first", "second"}))
        assert got == "first"
        assert {c.name: c.median_ms for c in report.candidates} == pytest.approx(
            {"torch": 27.0, "first": 30.0, "second": 29.7})


def test_the_race_waits_until_the_first_candidate_times_alike_twice():
    """Threads a converter left behind slow the first calls after the builds down; the race
    must not start before they are gone. Here the first 3 calls take 50 ms, later ones 2 ms:
    the wait lasts past them, and a steady runner is let through after two windows."""
    from optlib.passes.autotune import wait_until_settled

    calls = []

    def settling(x):
        time.sleep(0.050 if len(calls) < 3 else 0.002)
        calls.append(1)
        return x

    x = torch.ones(3)
    assert wait_until_settled(settling, (x,)) > 3 + 10  # it timed the fast phase too
    steady = wait_until_settled(_runner(0.005), (x,))
    assert 2 <= steady < 300  # well before the 3 s cap (600 calls)
