"""What to run: benchmark specs, matrix expansion, and how instances share the cores.

Pure functions of names, options and a core list (no torch, no processes), so that every
rule here (which combinations exist, how a scenario splits the machine) is testable alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.measure import TimingPolicy
from benchmarks.models import MODES, all_models, get_model
from benchmarks.variants import PRECISIONS, all_variants, get_variant

__all__ = ["SCENARIOS", "BenchmarkSpec", "InstancePlan", "Selection", "expand", "plan_instances"]

SCENARIOS = ("default", "offline", "realtime")
REALTIME_CORES_PER_INSTANCE = 4


@dataclass(frozen=True)
class Selection:
    """Names the user asked for; ``None`` means every known one."""

    models: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_known("model", self.models, all_models())
        _check_known("mode", self.modes, MODES)
        _check_known("precision", self.precisions, PRECISIONS)
        _check_known("variant", self.variants, all_variants())

    def admits(self, model: str, mode: str, precision: str, variant: str) -> bool:
        return all(chosen is None or name in chosen for name, chosen in (
            (model, self.models), (mode, self.modes), (precision, self.precisions),
            (variant, self.variants)))


def _check_known(kind: str, names: Sequence[str] | None, known: Iterable[str]) -> None:
    known = list(known)
    for name in names or ():
        if name not in known:
            raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(known)}")


def supported(model: str, mode: str, precision: str, variant: str) -> bool:
    return mode in get_model(model).modes and get_variant(variant).supports(mode, precision)


def expand(selection: Selection) -> list[tuple[str, str, str, str]]:
    """Every supported (model, mode, precision, variant) the selection admits, in a stable
    order with each model's baseline (eager) before the variants compared with it."""
    out = []
    for model, spec in all_models().items():
        for mode in spec.modes:
            for precision in PRECISIONS:
                for variant in all_variants():
                    if selection.admits(model, mode, precision, variant) and supported(
                            model, mode, precision, variant):
                        out.append((model, mode, precision, variant))
    return out


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark instance, exactly as the subprocess runs it."""

    model: str
    mode: str
    precision: str
    variant: str
    batch_size: int
    threads: int
    cores: tuple[int, ...] = ()
    tiny: bool = False
    channels_last: bool = False
    scenario: str = "default"
    seed: int = 0
    policy: TimingPolicy = field(default_factory=TimingPolicy)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; known: {', '.join(SCENARIOS)}")
        if self.threads < 1 or self.batch_size < 1:
            raise ValueError(f"threads and batch_size must be >= 1: {self.threads}, "
                             f"{self.batch_size}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cores"] = list(self.cores)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkSpec:
        data = dict(data)
        data["cores"] = tuple(data.get("cores", ()))
        data["policy"] = TimingPolicy(**data.get("policy", {}))
        return cls(**data)


@dataclass(frozen=True)
class InstancePlan:
    cores: tuple[int, ...]
    threads: int


def plan_instances(scenario: str, cores: Sequence[int], threads: int | None,
                   instances: int | None) -> list[InstancePlan]:
    """Split ``cores`` among benchmark instances.

    ``default`` and ``offline``: one instance on every core unless ``instances`` says more.
    ``realtime``: instances of 4 cores each (or all cores when fewer), as Intel reports CPU
    latency. Each instance gets ``threads`` threads, or one per core of its own.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    if not cores:
        raise ValueError("no cores to run on")
    if instances is not None and not 1 <= instances <= len(cores):
        raise ValueError(f"--instances must be between 1 and the {len(cores)} cores, "
                         f"got {instances}")
    if instances is None:
        per = min(REALTIME_CORES_PER_INSTANCE, len(cores)) if scenario == "realtime" \
            else len(cores)
        instances = len(cores) // per
    else:
        per = len(cores) // instances
    plans = []
    for i in range(instances):
        mine = tuple(cores[i * per:(i + 1) * per])
        plans.append(InstancePlan(cores=mine, threads=threads or len(mine)))
    return plans


def batch_for(model: str, mode: str, scenario: str, override: int | None) -> int:
    if override is not None:
        return override
    spec = get_model(model)
    if scenario == "realtime":
        return 1
    if scenario == "offline" and mode != "train":
        return spec.offline_batch
    return spec.default_batch(mode)
