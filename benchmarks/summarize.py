"""Turns the outcomes of a benchmark's instances into result rows and summary metrics.

Pure: dicts in, :class:`BenchmarkResult` rows and ``metrics`` entries out. Instances of one
benchmark (the realtime scenario) combine as Intel reports them: latency percentiles over
every instance's samples together, throughput summed over instances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.results import BenchmarkResult
from benchmarks.stats import percentile

__all__ = ["BenchmarkIdentity", "merge_repeats", "summarize", "not_run"]

# Rows every benchmark has, and the ones written for a failed or skipped benchmark.
_PRIMARY = (("latency_p50", "ms", "lower"), ("throughput", "samples/s", "higher"))


@dataclass(frozen=True)
class BenchmarkIdentity:
    model: str
    mode: str
    precision: str
    variant: str
    family: str
    scenario: str
    command: tuple[str, ...]
    config: Mapping[str, Any]

    @property
    def key(self) -> str:
        return f"{self.model}-{self.mode}-{self.precision}-{self.variant}"


def _significant(value: float) -> float:
    """Seven significant digits: far below timing noise, and it keeps files small."""
    return float(f"{float(value):.7g}")


def _row(ident: BenchmarkIdentity, metric: str, unit: str, direction: str,
         samples: Sequence[float], primary: bool = False, status: str = "ok",
         error: str | None = None, config: Mapping[str, Any] | None = None) -> BenchmarkResult:
    return BenchmarkResult(model=ident.model, mode=ident.mode, precision=ident.precision,
                           variant=ident.variant, family=ident.family, metric=metric, unit=unit,
                           direction=direction, samples=tuple(_significant(s) for s in samples),
                           primary=primary, status=status, error=error, scenario=ident.scenario,
                           command=ident.command, config=dict(config or ident.config))


def not_run(ident: BenchmarkIdentity, status: str, error: str
            ) -> tuple[list[BenchmarkResult], dict[str, float]]:
    """Rows for a benchmark that failed or was skipped: its primary metrics, no samples."""
    throughput_unit = "tokens/s" if ident.mode == "generate" else "samples/s"
    rows = [_row(ident, metric, throughput_unit if metric == "throughput" else unit, direction,
                 (), primary=True, status=status, error=error)
            for metric, unit, direction in _PRIMARY]
    return rows, {}


def _elementwise_sum(series: Sequence[Sequence[float]]) -> list[float]:
    n = min(len(s) for s in series)
    return [sum(s[i] for s in series) for i in range(n)]


def merge_repeats(repeats: Sequence[Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """One outcome per instance from the same instances run in several fresh processes, one
    after another: samples concatenated in run order, peak RSS and setup time the largest,
    accuracy the worst. Instances are matched by the cores they ran on (their affinity), which
    every repeat plans alike; a failed outcome is kept as it is, so the benchmark fails.

    Why repeat at all: a process can settle at a speed level of its own (memory placement,
    which neighbours share the core's caches then), and a p50 pooled over several processes
    averages those levels where one process's p50 inherits one of them.
    """
    if len(repeats) == 1:
        return [dict(o) for o in repeats[0]]
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for outcomes in repeats:
        for outcome in outcomes:
            if outcome.get("status") != "ok":
                return [dict(outcome)]
            key = tuple(outcome.get("runtime", {}).get("affinity") or ())
            into = merged.get(key)
            if into is None:
                merged[key] = {**outcome, "latencies_ms": list(outcome["latencies_ms"]),
                               "cpu_ms": list(outcome["cpu_ms"]),
                               "extras": {k: list(v) for k, v in outcome["extras"].items()},
                               "processes": 1}
                continue
            into["latencies_ms"] += outcome["latencies_ms"]
            into["cpu_ms"] += outcome["cpu_ms"]
            for name, values in outcome["extras"].items():
                into["extras"].setdefault(name, []).extend(values)
            into["peak_rss_mb"] = max(into["peak_rss_mb"], outcome["peak_rss_mb"])
            into["setup_s"] = max(into["setup_s"], outcome["setup_s"])
            into["processes"] += 1
            if outcome.get("accuracy") and into.get("accuracy"):
                worse = min if outcome["accuracy"]["metric"] == "sqnr" else max
                into["accuracy"] = {**into["accuracy"], "value": worse(
                    into["accuracy"]["value"], outcome["accuracy"]["value"])}
    return list(merged.values())


def summarize(ident: BenchmarkIdentity, outcomes: Sequence[Mapping[str, Any]]
              ) -> tuple[list[BenchmarkResult], dict[str, float]]:
    """Rows and summary metrics of one benchmark from its instances' outcomes.

    Any failed instance fails the benchmark (a partial result would bias the throughput sum).
    """
    if not outcomes:
        return not_run(ident, "failed", "no instance produced a result")
    for outcome in outcomes:
        if outcome.get("status") != "ok":
            return not_run(ident, outcome.get("status", "failed"),
                           outcome.get("error") or "instance failed without a message")
    config = dict(ident.config)
    config["variant_config"] = outcomes[0].get("config", {})
    config["instance_runtime"] = [{"runtime": o.get("runtime", {}), "warmup": o.get("warmup", {}),
                                   "processes": o.get("processes", 1),
                                   "timed_blocks": o.get("timed_blocks", [])} for o in outcomes]
    latencies = [ms for o in outcomes for ms in o["latencies_ms"]]
    generate = ident.mode == "generate"
    if generate:
        # One iteration generates `tokens` tokens; throughput is tokens per second.
        per_instance = [[t * 1e3 / ms for t, ms in zip(o["extras"]["tokens"], o["latencies_ms"])]
                        for o in outcomes]
    else:
        per_instance = [[o["samples_per_batch"] * 1e3 / ms for ms in o["latencies_ms"]]
                        for o in outcomes]
    throughput = _elementwise_sum(per_instance)
    throughput_unit = "tokens/s" if generate else "samples/s"
    rows = [
        _row(ident, "latency_p50", "ms", "lower", latencies, primary=True, config=config),
        _row(ident, "throughput", throughput_unit, "higher", throughput, primary=True,
             config=config),
        _row(ident, "peak_rss", "MB", "lower", [max(o["peak_rss_mb"] for o in outcomes)],
             config=config),
        _row(ident, "setup_time", "s", "lower", [max(o["setup_s"] for o in outcomes)],
             config=config),
        _row(ident, "cpu_time_p50", "ms", "lower", [c for o in outcomes for c in o["cpu_ms"]],
             config=config),
    ]
    metrics = {
        f"{ident.key}_latency_p50": percentile(latencies, 50),
        f"{ident.key}_latency_p90": percentile(latencies, 90),
        f"{ident.key}_latency_p99": percentile(latencies, 99),
        f"{ident.key}_throughput": sum(percentile(s, 50) for s in per_instance),
        f"{ident.key}_peak_rss": rows[2].samples[0],
        f"{ident.key}_setup_time": rows[3].samples[0],
        f"{ident.key}_cpu_time_p50": percentile(rows[4].samples, 50),
    }
    if generate:
        for name, metric in (("prefill_ms", "prefill_latency_p50"),
                             ("decode_ms_per_token", "decode_latency_p50")):
            samples = [v for o in outcomes for v in o["extras"][name]]
            rows.append(_row(ident, metric, "ms", "lower", samples, config=config))
            metrics[f"{ident.key}_{metric}"] = percentile(samples, 50)
    accuracy = outcomes[0].get("accuracy")
    if accuracy:
        name = accuracy["metric"]
        unit, direction = ("dB", "higher") if name == "sqnr" else ("ratio", "lower")
        worst = (min if direction == "higher" else max)(
            o["accuracy"]["value"] for o in outcomes)
        rows.append(_row(ident, name, unit, direction, [worst], config=config))
        metrics[f"{ident.key}_{name}"] = rows[-1].samples[0]
    return rows, metrics
