"""The launch plan: a pure function of (machine, options) to a frozen value.

Environment variables the launcher sets for each instance (never one the user already set;
the plan's notes say which were kept):

======================  ==========================================  ===================================
variable                value                                       why
======================  ==========================================  ===================================
OMP_NUM_THREADS         the instance's core count                   one OpenMP thread per core; more
                                                                    threads than cores only thrash
OMP_WAIT_POLICY         PASSIVE                                     idle OpenMP threads sleep instead of
                                                                    spinning. A spinning thread burns
                                                                    its share of a core another process
                                                                    also uses, then waits a scheduler
                                                                    slice for every parallel region:
                                                                    on a busy 2-core machine that made
                                                                    eager resnet50 12x slower
KMP_AFFINITY            granularity=fine,compact,1,0                Intel OpenMP only: thread i on core
                                                                    i, siblings last
KMP_BLOCKTIME           1                                           Intel OpenMP only: spin 1 ms, then
                                                                    sleep (same reason as above)
LD_PRELOAD              the allocator's and/or Intel OpenMP's       swap in tcmalloc/jemalloc (fewer
                        library                                     page faults for big tensors) or
                                                                    Intel's OpenMP runtime
MALLOC_CONF             oversize_threshold:1,background_thread:     jemalloc only: keep freed pages for
                        false,metadata_thp:auto,dirty_decay_ms:-1,  reuse instead of returning them to
                        muzzy_decay_ms:-1                           the OS at every step; no extra
                                                                    thread competing for the cores
TBB_ENABLE_SANITIZERS   1                                           with tcmalloc or jemalloc: oneTBB
                                                                    (OpenVINO's threading) loads its
                                                                    hwloc binding with RTLD_DEEPBIND,
                                                                    so hwloc frees with glibc's free()
                                                                    what the preloaded allocator handed
                                                                    out, and the process aborts
                                                                    ("free(): invalid pointer") when
                                                                    OpenVINO starts its CPU plugin; set,
                                                                    oneTBB loads it without deep binding
======================  ==========================================  ===================================

Cores are bound with numactl (cores and memory node) when it is installed, else taskset,
else ``os.sched_setaffinity`` in the child before it starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from optlib.cpu import CPUInfo, LogicalCPU, parse_cpu_list
from optlib.launch.options import LaunchOptions

__all__ = ["DEBIAN_PACKAGES", "PRELOADED_ALLOCATOR_ENV", "InstancePlan", "LaunchError", "LaunchPlan",
           "Tools", "format_cpu_list", "format_plan", "make_plan"]

LATENCY_MODE_CORES = 4
JEMALLOC_CONF = ("oversize_threshold:1,background_thread:false,metadata_thp:auto,"
                 "dirty_decay_ms:-1,muzzy_decay_ms:-1")
DEBIAN_PACKAGES = {"jemalloc": "libjemalloc2", "tcmalloc": "libtcmalloc-minimal4"}
# Set beside a preloaded allocator (see the table above); optlib's OpenVINO route sets it too.
PRELOADED_ALLOCATOR_ENV = {"TBB_ENABLE_SANITIZERS": "1"}


class LaunchError(ValueError):
    """The options cannot be carried out on this machine; the message says why and what to do."""


@dataclass(frozen=True)
class Tools:
    """What is installed: binders and preloadable libraries (absolute paths, or None)."""

    numactl: str | None = None
    taskset: str | None = None
    jemalloc: str | None = None
    tcmalloc: str | None = None
    intel_openmp: str | None = None


@dataclass(frozen=True)
class InstancePlan:
    index: int
    cpus: tuple[int, ...]
    node: int | None  # None when the instance spans NUMA nodes
    binder: str  # "numactl", "taskset" or "sched_setaffinity"
    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...]  # only the variables the launcher sets
    log_file: str | None = None


@dataclass(frozen=True)
class LaunchPlan:
    instances: tuple[InstancePlan, ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return {
            "instances": [
                {"index": i.index, "cpus": list(i.cpus), "node": i.node, "binder": i.binder,
                 "command": list(i.command), "env": dict(i.env), "log_file": i.log_file}
                for i in self.instances
            ],
            "notes": list(self.notes),
        }


def format_cpu_list(cpus: tuple[int, ...] | list[int]) -> str:
    """Compact kernel cpulist syntax: (0, 1, 2, 3, 8) -> "0-3,8"."""
    parts: list[str] = []
    ordered = sorted(cpus)
    start = prev = ordered[0]
    for c in [*ordered[1:], None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if c is not None:
            start = prev = c
    return ",".join(parts)


def _candidate_cpus(cpu: CPUInfo, options: LaunchOptions, allowed: frozenset[int] | None,
                    notes: list[str]) -> list[LogicalCPU]:
    by_id = {c.cpu: c for c in cpu.cpus}
    if options.core_list is not None:
        try:
            ids = parse_cpu_list(options.core_list)
        except ValueError as err:
            raise LaunchError(f"--core-list: {err}") from err
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise LaunchError(f"--core-list names CPUs {missing} that do not exist; this machine "
                              f"has {format_cpu_list(list(by_id))}")
        chosen = [by_id[i] for i in ids]
    else:
        if options.node_id is not None:
            try:
                chosen = list(cpu.cpus_of_node(options.node_id))
            except ValueError as err:
                raise LaunchError(f"--node-id: {err}") from err
        else:
            chosen = list(cpu.cpus)
        if not options.use_logical_cores and cpu.threads_per_core > 1:
            firsts = {c.cpu for c in cpu.first_thread_per_core()}
            notes.append(f"using one thread per physical core ({cpu.threads_per_core} threads "
                         "per core here); add --use-logical-cores to use all")
            chosen = [c for c in chosen if c.cpu in firsts]
    if allowed is not None:
        outside = [c.cpu for c in chosen if c.cpu not in allowed]
        if outside:
            notes.append(f"CPUs {format_cpu_list(outside)} are outside this process's allowed "
                         "set and are not used")
            chosen = [c for c in chosen if c.cpu in allowed]
    if not chosen:
        raise LaunchError("no usable CPUs remain for the instances")
    # SMT siblings side by side, so that an instance owns whole physical cores.
    return sorted(chosen, key=lambda c: (c.node, c.core, c.cpu))


def _partition(cpus: list[LogicalCPU], options: LaunchOptions,
               notes: list[str]) -> list[list[LogicalCPU]]:
    total = len(cpus)
    if options.throughput_mode:
        nodes = sorted({c.node for c in cpus})
        return [[c for c in cpus if c.node == n] for n in nodes]
    ninstances, per = options.ninstances, options.ncores_per_instance
    if options.latency_mode:
        per = min(LATENCY_MODE_CORES, total)
        if total < LATENCY_MODE_CORES:
            notes.append(f"latency mode wants {LATENCY_MODE_CORES} cores per instance; only "
                         f"{total} available, so one instance uses them all")
        ninstances = total // per
    elif ninstances is None and per is None:
        ninstances, per = 1, total
    elif per is None:
        assert ninstances is not None
        per = total // ninstances
        if per == 0:
            raise LaunchError(f"--ninstances {ninstances} needs at least {ninstances} cores; "
                              f"only {total} available")
    elif ninstances is None:
        ninstances = total // per
        if ninstances == 0:
            raise LaunchError(f"--ncores-per-instance {per} needs {per} cores; only {total} "
                              "available")
    if ninstances * per > total:
        raise LaunchError(f"{ninstances} instances x {per} cores = {ninstances * per} cores; "
                          f"only {total} available")
    unused = total - ninstances * per
    if unused:
        notes.append(f"{unused} core(s) left unused: {format_cpu_list([c.cpu for c in cpus[-unused:]])}")
    return [cpus[i * per:(i + 1) * per] for i in range(ninstances)]


def _libraries(options: LaunchOptions, tools: Tools, notes: list[str]) -> tuple[list[str], str, str]:
    """(paths to preload, allocator used, OpenMP runtime used)."""
    preload: list[str] = []
    allocator = options.memory_allocator
    if allocator == "auto":
        allocator = next((a for a in ("tcmalloc", "jemalloc") if getattr(tools, a)), "default")
        if allocator == "default":
            notes.append("no tcmalloc or jemalloc found; using the default allocator (install "
                         f"{DEBIAN_PACKAGES['jemalloc']} or {DEBIAN_PACKAGES['tcmalloc']})")
    if allocator in ("jemalloc", "tcmalloc"):
        path = getattr(tools, allocator)
        if path is None:
            raise LaunchError(f"--memory-allocator {allocator}: lib{allocator} is not installed; "
                              f"install the Debian package {DEBIAN_PACKAGES[allocator]} "
                              f"(apt-get install {DEBIAN_PACKAGES[allocator]})")
        preload.append(path)
    runtime = options.omp_runtime
    if runtime == "auto":
        runtime = "intel" if tools.intel_openmp else "default"
    if runtime == "intel":
        if tools.intel_openmp is None:
            raise LaunchError("--omp-runtime intel: libiomp5.so is not installed; install it "
                              "with pip install intel-openmp")
        preload.append(tools.intel_openmp)
    return preload, allocator, runtime


def _binding(cpus: tuple[int, ...], node: int | None, tools: Tools) -> tuple[str, tuple[str, ...]]:
    listed = format_cpu_list(cpus)
    if tools.numactl:
        membind = ("-m", str(node)) if node is not None else ()
        return "numactl", (tools.numactl, "-C", listed, *membind)
    if tools.taskset:
        return "taskset", (tools.taskset, "-c", listed)
    return "sched_setaffinity", ()


def make_plan(cpu: CPUInfo, options: LaunchOptions, *, tools: Tools,
              environ: Mapping[str, str], python: str,
              allowed_cpus: frozenset[int] | None = None) -> LaunchPlan:
    """Decide cores, binding, command and environment for every instance.

    Pure: the machine (``cpu``, ``tools``, ``allowed_cpus``), the user's environment and the
    interpreter path are inputs, so tests can plan for any machine.
    """
    notes: list[str] = []
    groups = _partition(_candidate_cpus(cpu, options, allowed_cpus, notes), options, notes)
    preload, allocator, runtime = _libraries(options, tools, notes)
    if options.module:
        program = (python, "-u", "-m", options.program)
    elif options.program.endswith(".py"):
        program = (python, "-u", options.program)
    else:
        program = (options.program,)
    user_set: dict[str, str] = {}
    instances = []
    for index, group in enumerate(groups):
        cpus = tuple(c.cpu for c in group)
        nodes = {c.node for c in group}
        node = nodes.pop() if len(nodes) == 1 else None
        wanted: dict[str, str] = {"OMP_NUM_THREADS": str(len(cpus)), "OMP_WAIT_POLICY": "PASSIVE"}
        if runtime == "intel":
            wanted.update(KMP_AFFINITY="granularity=fine,compact,1,0", KMP_BLOCKTIME="1")
        if preload:
            wanted["LD_PRELOAD"] = ":".join(preload)
        if allocator == "jemalloc":
            wanted["MALLOC_CONF"] = JEMALLOC_CONF
        if allocator in ("jemalloc", "tcmalloc"):
            wanted.update(PRELOADED_ALLOCATOR_ENV)
        env = []
        for key, value in wanted.items():
            if key in environ:
                user_set.setdefault(key, f"{key}={environ[key]} (launcher default: {value})")
            else:
                env.append((key, value))
        binder, prefix = _binding(cpus, node, tools)
        log_file = None
        if options.log_dir is not None:
            log_file = f"{options.log_dir.rstrip('/')}/instance_{index}_cpus_{format_cpu_list(cpus)}.log"
        instances.append(InstancePlan(index=index, cpus=cpus, node=node, binder=binder,
                                      command=(*prefix, *program, *options.program_args),
                                      env=tuple(env), log_file=log_file))
    for kept in user_set.values():
        notes.append(f"kept the user's {kept}")
    return LaunchPlan(instances=tuple(instances), notes=tuple(notes))


def format_plan(plan: LaunchPlan) -> str:
    """The plan as a person reads it (what --dry-run prints)."""
    lines = [f"optlib.launch plan: {len(plan.instances)} instance(s)"]
    for inst in plan.instances:
        node = inst.node if inst.node is not None else "several"
        lines.append(f"instance {inst.index}: cpus {format_cpu_list(inst.cpus)} "
                     f"({len(inst.cpus)} cores), NUMA node {node}, bound by {inst.binder}")
        lines.append("  command: " + " ".join(inst.command))
        for key, value in inst.env:
            lines.append(f"  env: {key}={value}")
        if inst.log_file:
            lines.append(f"  log: {inst.log_file}")
    lines.extend(f"note: {n}" for n in plan.notes)
    return "\n".join(lines)
