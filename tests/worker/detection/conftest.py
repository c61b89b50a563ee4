"""Synthetic benchmark series for the detection tests, built like a pinned host's output:
run-to-run noise shared by the k samples of one commit, within-run noise, whole-run and
single-sample spikes, a host that hops between two speeds, true step changes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from worker.detection import Point


@dataclass
class SeriesSpec:
    n: int = 200
    k: int = 3
    cv: float = 0.01
    steps: list[tuple[int, float]] = field(default_factory=list)  # (first index at new level, rel change)
    run_spike_p: float = 0.0
    sample_spike_p: float = 0.0
    hop_gap: float = 0.0  # relative slowdown of the host's slow state
    hop_enter: float = 0.08
    hop_exit: float = 0.3
    host_steps: list[tuple[int, float]] = field(default_factory=list)  # moves samples AND baseline
    with_baseline: bool = False
    base: float = 100.0
    seed: int = 0


def make_series(spec: SeriesSpec) -> list[Point]:
    rng = np.random.default_rng(spec.seed)
    points = []
    slow = False
    for i in range(spec.n):
        level = spec.base
        for idx, rel in spec.steps:
            if i >= idx:
                level *= 1.0 + rel
        host = 1.0
        for idx, rel in spec.host_steps:
            if i >= idx:
                host *= 1.0 + rel
        if spec.hop_gap:
            slow = rng.random() < (1 - spec.hop_exit if slow else spec.hop_enter)
            if slow:
                host *= 1.0 + spec.hop_gap
        run = host * (1.0 + rng.normal(0, spec.cv * 0.8))
        if rng.random() < spec.run_spike_p:
            run *= 1.0 + rng.uniform(0.2, 0.5)
        samples = level * run * (1.0 + rng.normal(0, spec.cv * 0.6, spec.k))
        spiked = rng.random(spec.k) < spec.sample_spike_p
        samples[spiked] *= 1.0 + rng.uniform(0.2, 0.5, int(spiked.sum()))
        baseline = None
        if spec.with_baseline:
            baseline = tuple(50.0 * run * (1.0 + rng.normal(0, spec.cv * 0.6, spec.k)))
        points.append(Point(commit=f"c{i:04d}", samples=tuple(samples), baseline=baseline, host="h1"))
    return points


@pytest.fixture
def series():
    return lambda **kw: make_series(SeriesSpec(**kw))
