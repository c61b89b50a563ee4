"""Pick the fastest correct runner for a model by timing the candidates on this machine.

Which compiler wins depends on the model and the CPU (TorchScript freezing beat inductor on
a small CNN here, inductor beat it on pointwise-heavy graphs, exported runtimes won on some
CNNs and lost badly on embedding models), so optlib does what IPEX's auto kernel selection
did: build every candidate, drop the ones whose outputs differ from eager, and time the rest
interleaved (round-robin, so that a noisy neighbour slows all of them alike) on the user's
own sample input.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch

from optlib._log import logger
from optlib.passes import tune_cache


# How far behind the leader's median a candidate may be and stay in the timing race: after
# the first round (three calls, noisy) only hopeless ones go; after ``min_rounds`` the rest.
# One block can be 2x off on free cores (the first candidate timed after the builds ran
# against a converter's lingering threads), so the first cut is wide; a 2-thread runner on a
# busy machine was 24-95x behind here and still goes at once.
_DROP_AFTER_FIRST = 4.0
_DROP_AFTER_MIN = 1.25
# Medians closer than this to the fastest count as a tie (broken by preference order).
_TIE_MARGIN = 0.02
# A runtime with its own thread pool (OpenVINO, ONNX Runtime) this close to the fastest torch
# (OpenMP) runner is preferred to it: on free cores it gives up at most this much, and when
# another process shares the cores it degrades gracefully where an OpenMP runner at all
# threads stalls at every barrier (BERT-base, 2 threads, one core busy: OpenVINO 268 ms, the
# prepacked TorchScript route 393 ms, after they tied at 137 ms on free cores).
_SHARED_CORES_MARGIN = 0.20
# Pause after a block of a runtime with its own thread pool (ONNX Runtime, OpenVINO): its
# workers stay busy for tens of milliseconds after a call returns, and torch's OpenMP threads
# timed in that window lost their core: DLRM at 2 threads took 13-33 ms per call right after an
# ONNX Runtime block instead of 4 ms, which made optlib's eager candidate look 25x slower than
# it is. 50 ms brought it back on a 2-core machine; 0.1 s leaves a margin.
_POOL_SETTLE_S = 0.1
# A runner at fewer threads this many times slower than at all of them is out of the race
# before it is built, for every candidate, when the first candidate that has such twins
# (eager, in `optimize`) shows it: how a model's work divides among threads is mostly the
# model's, not the compiler's. In the races of the ci models at 2 threads on free cores,
# eager ran 1.54-1.78x slower at one thread for BERT-base, resnet18 and GCN, and every
# compiled twin lost too (1.31-1.73x); for DLRM eval eager's twin was 1.03x and the compiled
# twins came within 0.88-1.04x. Building the twins is what costs: inductor compiles again
# for another thread count (BERT-base: 16 s of its 56 s of builds). A busy machine slows the
# many-thread runner, so there the ratio stays low and the twins race.
_FEWER_THREADS_SLOWDOWN = 1.4
_PROBE_CALLS = 3
# After the builds, a converter's or compiler's threads can run on for longer than that: with
# one thread pinned to one core, DLRM's eager forward took 16.8 ms in the first half second after
# OpenVINO's (failed) conversion and 2.2-2.5 ms after it; a race timed in that window put eager
# at 276 ms and the prepacked TorchScript route at 31 ms, and its wrong choice (2.23 ms where
# the right one runs 1.32) was cached for every later run. A race at one thread has no
# one-thread twin to show it was contended, so after builds that ran a converter the race
# waits a second, then until the first candidate times alike in two consecutive windows.
_CONVERTER_SETTLE_S = 1.0
_SETTLE_WINDOW_S = 0.1
_SETTLE_AGREEMENT = 1.2
_SETTLE_MAX_S = 3.0
# A runner at N threads this many times (and this many ms) slower than itself at one thread
# was not measuring the model but a busy machine: a descheduled OpenMP thread stalls every
# barrier for a scheduler quantum (milliseconds), where the cost of waking a second thread on
# free cores is microseconds. A choice made then holds for that moment, not for the next
# process, so it is not remembered.
_CONTENDED_SLOWDOWN = 2.0
_CONTENDED_MIN_MS = 1.0
# A contended race is run again (on the runners already built) after these pauses, until one
# is not contended: another process's bursts come and go, and a choice made in one of them
# sticks to the model for the rest of the process (DLRM picked TorchScript at one thread, 2.16
# ms, in a burst that timed eager at two threads at 20.71 ms; on the free cores two threads ran
# 1.54 ms). When every race is contended, the last one's choice is used, as before.
_CONTENDED_PAUSES_S = (1.0, 3.0)


class SkipCandidate(Exception):
    """Raised by a builder whose candidate is known to lose on this model: it is reported as
    skipped, with the message as the reason, and costs nothing to build."""


@dataclass(frozen=True)
class CandidateResult:
    """One candidate's outcome: its median latency, its error against eager, or why it failed."""

    name: str
    status: str
    median_ms: float | None = None
    relative_error: float | None = None
    build_seconds: float | None = None
    timed_calls: int | None = None


@dataclass(frozen=True)
class TuneReport:
    """The measurement behind a choice; ``cached`` when it was made by an earlier run."""

    chosen: str
    candidates: tuple[CandidateResult, ...]
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen, "cached": self.cached, "candidates": [asdict(c) for c in self.candidates]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], cached: bool = False) -> TuneReport:
        return cls(data["chosen"], tuple(CandidateResult(**c) for c in data.get("candidates", ())), cached)

    def summary(self) -> str:
        parts = []
        for c in self.candidates:
            detail = f"{c.median_ms:.3f} ms" if c.median_ms is not None else c.status
            parts.append(f"{c.name}={detail}")
        origin = " (measured by an earlier run)" if self.cached else ""
        return f"chose {self.chosen}{origin} ({', '.join(parts)})"


def flatten_tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in flatten_tensors(v)]
    if isinstance(value, Mapping):
        return [t for k in sorted(value) for t in flatten_tensors(value[k])]
    return []


def relative_error(output: Any, reference: Any) -> float:
    """Largest ``max|out - ref| / max|ref|`` over the tensors of two outputs (inf if shapes differ)."""
    outs, refs = flatten_tensors(output), flatten_tensors(reference)
    if len(outs) != len(refs) or not refs:
        return float("inf")
    worst = 0.0
    for out, ref in zip(outs, refs):
        if out.shape != ref.shape:
            return float("inf")
        out, ref = out.detach().float().to_dense(), ref.detach().float().to_dense()
        scale = ref.abs().max().item() if ref.numel() else 0.0
        diff = (out - ref).abs().max().item() if ref.numel() else 0.0
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def noise_ratio(output: Any, reference: Any) -> float:
    """Quantization noise power over signal power (``10 ** (-SQNR / 10)``) of the first output."""
    outs, refs = flatten_tensors(output), flatten_tensors(reference)
    if not outs or not refs or outs[0].shape != refs[0].shape:
        return float("inf")
    out, ref = outs[0].detach().float(), refs[0].detach().float()
    signal = ref.pow(2).mean().item()
    return (out - ref).pow(2).mean().item() / signal if signal > 0 else float("inf")


def thread_counts(threads: int) -> tuple[int, ...]:
    """Thread counts worth timing for an OpenMP runner: all of them, half, one.

    On a machine whose cores are shared, an OpenMP barrier waits for its slowest thread, and
    a thread that lost its core makes every parallel region wait a scheduler quantum: resnet50
    ran 4.5x slower with 2 threads than with 1 on a busy 2-core machine. Fewer threads lose
    little when the cores are free and win big when they are not, so the count is measured.
    """
    counts = [threads]
    if threads >= 4:
        counts.append(threads // 2)
    if threads > 1:
        counts.append(1)
    return tuple(counts)


def with_threads(runner: Callable, threads: int) -> Callable:
    """``runner`` run with torch's intra-op pool set to ``threads``, restored afterwards."""
    def run(*args):
        previous = torch.get_num_threads()
        if previous == threads:
            return runner(*args)
        torch.set_num_threads(threads)
        try:
            return runner(*args)
        finally:
            torch.set_num_threads(previous)
    return run


def split_threads(name: str) -> tuple[str, int | None]:
    """``"torchscript@1t"`` -> ``("torchscript", 1)``; names without a count -> ``(name, None)``."""
    base, _, count = name.partition("@")
    return (base, int(count.removesuffix("t"))) if count else (base, None)


def add_thread_variants(builders: dict[str, Callable[[], Callable]], openmp: set[str],
                        threads: int) -> dict[str, Callable[[], Callable]]:
    """Each OpenMP candidate also at fewer threads (``name@Nt``), built once and shared."""
    out: dict[str, Callable[[], Callable]] = {}
    for name, build in builders.items():
        if name not in openmp:
            out[name] = build
            continue
        shared = functools.cache(build)
        for count in thread_counts(threads):
            label = name if count == threads else f"{name}@{count}t"
            out[label] = (lambda shared=shared, count=count: with_threads(shared(), count)) if count != threads \
                else shared
    return out


def build_checked(name: str, build: Callable[[], Callable], args: tuple, reference: Any, tolerance: float,
                  error_fn: Callable[[Any, Any], float] | None = None) -> tuple[CandidateResult, Callable | None]:
    """Build one candidate and check its output; the runner is ``None`` if it failed or is inaccurate."""
    start = time.perf_counter()
    try:
        runner = build()
        output = runner(*args)
    except SkipCandidate as exc:
        return CandidateResult(name, f"skipped: {exc}"), None
    except Exception as exc:  # a candidate that cannot build is simply not chosen
        logger.debug("autotune: %s failed: %s", name, exc)
        return CandidateResult(name, f"failed: {type(exc).__name__}: {exc}".splitlines()[0][:300]), None
    build_seconds = time.perf_counter() - start
    error = (error_fn or relative_error)(output, reference)
    if not error <= tolerance:
        logger.debug("autotune: %s rejected, relative error %.3g > %.3g", name, error, tolerance)
        return CandidateResult(name, "inaccurate", relative_error=error, build_seconds=build_seconds), None
    return CandidateResult(name, "ok", relative_error=error, build_seconds=build_seconds), runner


def select_fastest(
    builders: Mapping[str, Callable[[], Callable]],
    args: tuple,
    reference: Any,
    tolerance: float,
    seconds_per_candidate: float,
    min_rounds: int = 3,
    max_rounds: int = 100,
    block: int = 3,
    error_fn: Callable[[Any, Any], float] | None = None,
    args_for: Mapping[str, tuple] | None = None,
    own_pools: frozenset[str] = frozenset(),
) -> tuple[str, Callable, TuneReport]:
    """Build, check and time every candidate; return the fastest accurate one.

    ``builders`` maps a name to a zero-argument function that builds the candidate runner
    (which is then called as ``runner(*args)``). ``error_fn(output, reference)`` measures a
    candidate's error (default :func:`relative_error`). ``args_for`` gives a candidate its own
    form of the same inputs (an exported runtime takes them in the default memory layout, which
    converting at each call would cost it). ``own_pools`` names the candidates that run on a
    thread pool of their own; the race pauses after each of their blocks so that the next
    candidate is not timed against their lingering workers, and the fastest of them is chosen
    over a faster OpenMP runner it trails by less than ``_SHARED_CORES_MARGIN``. Insertion
    order is the preference order on ties (medians within 2 %), so list the simplest candidate
    first. Raises ``RuntimeError`` when none works.
    """
    runners: dict[str, Callable] = {}
    results: dict[str, CandidateResult] = {}
    inputs = {name: (args_for or {}).get(name, args) for name in builders}
    # Once the first candidate with fewer-thread twins and its twins are built, they are
    # timed against each other: where a twin lost by far, every later twin at its thread
    # count is skipped unbuilt.
    probe = _thread_probe(builders)
    unprobed = {name for name in builders if split_threads(name)[0] == probe}
    slow_counts: dict[int, str] = {}
    for name, build in builders.items():
        count = split_threads(name)[1]
        if count in slow_counts:
            results[name] = CandidateResult(name, slow_counts[count])
            continue
        result, runner = build_checked(name, build, inputs[name], reference, tolerance, error_fn)
        results[name] = result
        if runner is not None:
            runners[name] = runner
        if name in unprobed:
            unprobed.discard(name)
            if not unprobed:
                slow_counts = _slow_thread_counts(probe, runners, inputs)
    if not runners:
        raise RuntimeError("no candidate runner worked: " + "; ".join(r.status for r in results.values()))
    if len(runners) == 1:  # nothing to choose between: timing it would only spend the budget
        (chosen,) = runners
        return chosen, runners[chosen], TuneReport(chosen, tuple(results[name] for name in builders))
    if own_pools & set(builders):
        time.sleep(_CONVERTER_SETTLE_S)
    first = next(iter(runners))
    wait_until_settled(runners[first], inputs[first])

    samples: dict[str, list[float]] = {name: [] for name in runners}
    deadline = time.perf_counter() + seconds_per_candidate * len(runners)
    racing = dict(runners)
    for round_index in range(max_rounds):
        for name, runner in racing.items():
            # Short blocks, each after one untimed call: a runtime's worker threads may still
            # be spinning from the previous candidate, and the first call pays for waking them.
            runner(*inputs[name])
            for _ in range(block):
                start = time.perf_counter()
                runner(*inputs[name])
                samples[name].append(time.perf_counter() - start)
            if name in own_pools:
                time.sleep(_POOL_SETTLE_S)
        if round_index + 1 >= min_rounds and time.perf_counter() > deadline:
            break
        # A candidate far behind the leader is out of the race: timing it further only
        # spends the budget (a 2-thread runner on a busy machine can take seconds per call).
        leader = min(statistics.median(samples[n]) for n in racing)
        margin = _DROP_AFTER_FIRST if round_index == 0 else _DROP_AFTER_MIN
        if round_index == 0 or round_index + 1 >= min_rounds:
            racing = {n: r for n, r in racing.items() if statistics.median(samples[n]) <= margin * leader}
    medians = {name: statistics.median(s) * 1e3 for name, s in samples.items()}
    fastest = min(medians.values())
    # A win inside the timing noise is no win: the earliest-listed (simplest) candidate within
    # the margin is kept, so that a model does not flip between runners from one run to the next.
    chosen = next(n for n in medians if medians[n] <= fastest * (1 + _TIE_MARGIN))
    robust = [n for n in medians if n in own_pools and medians[n] <= fastest * (1 + _SHARED_CORES_MARGIN)]
    if chosen not in own_pools and robust:
        # Between pooled runtimes too, a win inside the noise is no win: the earliest listed.
        pooled_best = min(medians[n] for n in robust)
        chosen = next(n for n in robust if medians[n] <= pooled_best * (1 + _TIE_MARGIN))
    for name, median in medians.items():
        r = results[name]
        results[name] = CandidateResult(name, r.status, median, r.relative_error, r.build_seconds, len(samples[name]))
    report = TuneReport(chosen, tuple(results[name] for name in builders))
    return chosen, runners[chosen], report


def _thread_probe(builders: Mapping[str, Callable[[], Callable]]) -> str | None:
    """The first candidate listed that has fewer-thread twins (``name@Nt``), or None."""
    parsed = [split_threads(name) for name in builders]
    twinned = {base for base, count in parsed if count is not None}
    return next((base for base, count in parsed if count is None and base in twinned), None)


def _slow_thread_counts(probe: str, runners: Mapping[str, Callable],
                        inputs: Mapping[str, tuple]) -> dict[int, str]:
    """Thread counts at which ``probe`` ran ``_FEWER_THREADS_SLOWDOWN`` times slower than at
    all threads (medians of ``_PROBE_CALLS`` interleaved calls, once ``probe`` times alike),
    each with the reason the other candidates' twins at that count are skipped."""
    twins = {name: split_threads(name)[1] for name in runners if split_threads(name)[0] == probe}
    if probe not in runners or len(twins) < 2:
        return {}
    # As before the race: what ran before (builds, another model's race) can hold a core for
    # a while. Timed at once after the builds of a process that had tuned three models before,
    # mobilenet's eager took 37-45 ms instead of 24-26, its twin looked only 1.3x slower, and
    # every compiled twin was built (27 s more of optimize's 68 s).
    wait_until_settled(runners[probe], inputs[probe])
    samples: dict[str, list[float]] = {name: [] for name in twins}
    for _ in range(_PROBE_CALLS):
        for name in twins:
            start = time.perf_counter()
            runners[name](*inputs[name])
            samples[name].append(time.perf_counter() - start)
    full = statistics.median(samples[probe])
    slow = {}
    for name, count in twins.items():
        ratio = statistics.median(samples[name]) / full if full > 0 else 1.0
        if count is not None and ratio >= _FEWER_THREADS_SLOWDOWN:
            slow[count] = f"skipped: {name} ran {ratio:.2f}x slower than {probe}"
    return slow


def wait_until_settled(runner: Callable, args: tuple) -> int:
    """Call ``runner`` in windows of ``_SETTLE_WINDOW_S`` (at least one call each) until two
    consecutive windows' medians agree within ``_SETTLE_AGREEMENT``, for at most
    ``_SETTLE_MAX_S``; returns the number of calls made."""
    deadline = time.perf_counter() + _SETTLE_MAX_S
    previous: float | None = None
    calls = 0
    while time.perf_counter() < deadline:
        samples: list[float] = []
        end = time.perf_counter() + _SETTLE_WINDOW_S
        while not samples or time.perf_counter() < end:
            start = time.perf_counter()
            runner(*args)
            samples.append(time.perf_counter() - start)
        calls += len(samples)
        current = statistics.median(samples)
        if previous is not None and max(current, previous) <= _SETTLE_AGREEMENT * min(current, previous):
            break
        previous = current
    return calls


def contended(report: TuneReport) -> bool:
    """Whether a candidate ran more than ``_CONTENDED_SLOWDOWN`` times (and ``_CONTENDED_MIN_MS``)
    slower with all its threads than with one: the cores were busy while the race ran."""
    medians = {c.name: c.median_ms for c in report.candidates if c.median_ms is not None}
    for name, median in medians.items():
        base, threads = split_threads(name)
        slower = medians.get(base)
        if threads == 1 and slower is not None and slower > max(_CONTENDED_SLOWDOWN * median,
                                                                median + _CONTENDED_MIN_MS):
            return True
    return False


def select_fastest_cached(
    key: str | None,
    builders: Mapping[str, Callable[[], Callable]],
    args: tuple,
    reference: Any,
    tolerance: float,
    seconds_per_candidate: float,
    error_fn: Callable[[Any, Any], float] | None = None,
    args_for: Mapping[str, tuple] | None = None,
    own_pools: frozenset[str] = frozenset(),
) -> tuple[str, Callable, TuneReport]:
    """:func:`select_fastest`, reusing the choice stored under ``key`` when it still builds and
    is accurate (only that candidate is built); a fresh choice is stored unless the race was
    :func:`contended`. ``key`` ``None`` measures every candidate and stores nothing."""
    if key is not None:
        entry = tune_cache.lookup(key)
        if entry is not None and entry["chosen"] in builders:
            chosen = entry["chosen"]
            chosen_args = (args_for or {}).get(chosen, args)
            result, runner = build_checked(chosen, builders[chosen], chosen_args, reference, tolerance, error_fn)
            if runner is not None:
                try:
                    report = TuneReport.from_dict(entry["report"], cached=True)
                except (KeyError, TypeError):
                    report = TuneReport(chosen, (result,), cached=True)
                return chosen, runner, report
            logger.info("optlib: the cached choice %s no longer works here (%s); measuring every candidate",
                        chosen, result.status)
            tune_cache.forget(key)
    chosen, runner, report = _race_until_uncontended(builders, args, reference, tolerance, seconds_per_candidate,
                                                     error_fn=error_fn, args_for=args_for, own_pools=own_pools)
    if key is not None and contended(report):
        logger.info("optlib: the cores were busy while the candidates were timed (%s); this choice is used "
                    "but not remembered", report.summary())
    elif key is not None:
        tune_cache.store(key, chosen, report.to_dict())
    return chosen, runner, report


def _race_until_uncontended(builders: Mapping[str, Callable[[], Callable]], *args: Any,
                            **kwargs: Any) -> tuple[str, Callable, TuneReport]:
    """:func:`select_fastest`, run again after each pause of ``_CONTENDED_PAUSES_S`` while the
    race was :func:`contended`; every candidate is built once (the retries only re-check and
    re-time the runners)."""
    built = {name: once(build) for name, build in builders.items()}
    result = select_fastest(built, *args, **kwargs)
    for pause in _CONTENDED_PAUSES_S:
        if not contended(result[2]):
            break
        logger.info("optlib: the cores were busy while the candidates were timed (%s); timing them again "
                    "in %.0f s", result[2].summary(), pause)
        time.sleep(pause)
        result = select_fastest(built, *args, **kwargs)
    return result


def once(build: Callable[[], Any]) -> Callable[[], Any]:
    """``build`` run at most once: later calls return its result or raise its exception again
    (a conversion that failed takes as long to fail the second time)."""
    outcome: list[Any] = []

    def built() -> Any:
        if not outcome:
            try:
                outcome.append((True, build()))
            except Exception as exc:
                outcome.append((False, exc))
        ok, value = outcome[0]
        if not ok:
            raise value
        return value
    return built
