"""The launcher's options: a validated frozen value, and the command line that builds it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ALLOCATORS", "OMP_RUNTIMES", "LaunchOptions", "build_parser", "parse_options"]

ALLOCATORS = ("auto", "default", "jemalloc", "tcmalloc")
OMP_RUNTIMES = ("auto", "default", "intel")


@dataclass(frozen=True)
class LaunchOptions:
    """What the user asked for; :func:`optlib.launch.plan.make_plan` turns it into a plan."""

    program: str
    program_args: tuple[str, ...] = ()
    module: bool = False
    ninstances: int | None = None
    ncores_per_instance: int | None = None
    latency_mode: bool = False
    throughput_mode: bool = False
    core_list: str | None = None
    node_id: int | None = None
    use_logical_cores: bool = False
    memory_allocator: str = "auto"
    omp_runtime: str = "auto"
    log_dir: str | None = None
    dry_run: bool = False

    def __post_init__(self) -> None:
        if not self.program:
            raise ValueError("a program to run is required (program.py [args] or -m module)")
        for name in ("ninstances", "ncores_per_instance"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if self.latency_mode and self.throughput_mode:
            raise ValueError("--latency-mode and --throughput-mode exclude each other; pick one")
        if (self.latency_mode or self.throughput_mode) and (
                self.ninstances is not None or self.ncores_per_instance is not None):
            mode = "--latency-mode" if self.latency_mode else "--throughput-mode"
            raise ValueError(f"{mode} sets the instances and cores itself; drop --ninstances "
                             "and --ncores-per-instance, or drop the mode")
        if self.core_list is not None and self.node_id is not None:
            raise ValueError("--core-list and --node-id exclude each other; pick one")
        if self.node_id is not None and self.node_id < 0:
            raise ValueError(f"--node-id must be >= 0, got {self.node_id}")
        if self.memory_allocator not in ALLOCATORS:
            raise ValueError(f"unsupported --memory-allocator {self.memory_allocator!r}; "
                             f"supported: {', '.join(ALLOCATORS)}")
        if self.omp_runtime not in OMP_RUNTIMES:
            raise ValueError(f"unsupported --omp-runtime {self.omp_runtime!r}; "
                             f"supported: {', '.join(OMP_RUNTIMES)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m optlib.launch",
        description="Run a PyTorch program (or several instances of it) on chosen cores, with "
                    "OpenMP, allocator and NUMA settings that keep CPU runs fast and steady.",
    )
    parser.add_argument("--ninstances", type=int, help="number of instances to run")
    parser.add_argument("--ncores-per-instance", type=int, help="cores given to each instance")
    parser.add_argument("--latency-mode", action="store_true",
                        help="4 cores per instance, as many instances as fit")
    parser.add_argument("--throughput-mode", action="store_true",
                        help="one instance per NUMA node, using all of its cores")
    parser.add_argument("--core-list", help="logical CPUs to use, e.g. '0-3,8'")
    parser.add_argument("--node-id", type=int, help="use only this NUMA node's cores")
    parser.add_argument("--use-logical-cores", action="store_true",
                        help="also use SMT siblings (default: one thread per physical core)")
    parser.add_argument("--memory-allocator", choices=ALLOCATORS, default="auto",
                        help="allocator to preload (auto: tcmalloc or jemalloc when installed)")
    parser.add_argument("--omp-runtime", choices=OMP_RUNTIMES, default="auto",
                        help="OpenMP runtime (auto: Intel's when installed, else the default)")
    parser.add_argument("--log-dir", help="write each instance's output to a file here")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (cores, nodes, commands, environment) and exit")
    parser.add_argument("-m", "--module", action="store_true",
                        help="the program is a Python module name, run with python -m")
    parser.add_argument("program", help="program.py, a module name with -m, or an executable")
    parser.add_argument("program_args", nargs=argparse.REMAINDER,
                        help="arguments passed to the program")
    return parser


def parse_options(argv: Sequence[str]) -> LaunchOptions:
    args = build_parser().parse_args(list(argv))
    return LaunchOptions(
        program=args.program, program_args=tuple(args.program_args), module=args.module,
        ninstances=args.ninstances, ncores_per_instance=args.ncores_per_instance,
        latency_mode=args.latency_mode, throughput_mode=args.throughput_mode,
        core_list=args.core_list, node_id=args.node_id,
        use_logical_cores=args.use_logical_cores, memory_allocator=args.memory_allocator,
        omp_runtime=args.omp_runtime, log_dir=args.log_dir, dry_run=args.dry_run,
    )
