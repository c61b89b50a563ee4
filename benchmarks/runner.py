"""Runs a suite: one subprocess per benchmark instance, pinned, timed out, and collected.

The parent never imports torch. For each benchmark it plans the instances (which cores,
how many threads), writes each instance's spec, starts ``benchmarks/child.py`` directly or
through ``python -m optlib.launch``, waits with a timeout, and turns what the instances wrote
into result rows. A benchmark that fails, crashes or hangs becomes a failed row with its
reason; a benchmark whose optional package is missing becomes a skipped row; the suite goes
on either way.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from benchmarks import turns
from benchmarks.environment import collect_environment
from benchmarks.measure import TimingPolicy
from benchmarks.models import get_model
from benchmarks.cores import format_cores
from benchmarks.plan import BenchmarkSpec, InstancePlan, Selection, batch_for, expand, plan_instances
from benchmarks.progress import Progress
from benchmarks.results import BenchmarkResult, ResultsFile
from benchmarks.suites import get_suite
from benchmarks.summarize import BenchmarkIdentity, merge_repeats, not_run, summarize
from benchmarks.variants import get_variant

__all__ = ["RunOptions", "planned", "run"]

_CHILD = Path(__file__).resolve().parent / "child.py"
_REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class RunOptions:
    """Everything ``python -m benchmarks run`` accepts. ``None`` means the suite's value,
    or the machine's (the cores this process may use, OMP_NUM_THREADS)."""

    suite: str | None = None
    selection: Selection = field(default_factory=Selection)
    cores: tuple[int, ...] | None = None
    threads: int | None = None
    instances: int | None = None
    scenario: str = "default"
    # On for suites and selections alike, so that a selection run by hand measures what the
    # platform's series measure: without it, eager DLRM training took 74-84 ms a step against
    # 32-40 ms (glibc's malloc faulting pages in at every step) and optlib looked 2.4-2.9x
    # faster than eager instead of 1.2-1.3x.
    launcher: bool = True
    channels_last: bool = False
    tiny: bool = False
    batch_size: int | None = None
    policy: TimingPolicy | None = None
    timeout_s: float | None = None
    seed: int = 0
    name: str = "perfhud-cpu"
    processes: int | None = None
    side_by_side: bool | None = None
    side_by_side_sets: int = 1

    def __post_init__(self) -> None:
        if self.processes is not None and self.processes < 1:
            raise ValueError(f"processes must be >= 1, got {self.processes}")
        if self.side_by_side_sets < 1:
            raise ValueError(f"side_by_side_sets must be >= 1, got {self.side_by_side_sets}")
        if self.side_by_side is False and self.side_by_side_sets > 1:
            raise ValueError(f"side_by_side_sets={self.side_by_side_sets} asks for groups timed side by "
                             "side, and side by side timing is off (--no-side-by-side)")

    def resolved_cores(self) -> tuple[int, ...]:
        """The cores asked for, checked against those this process may use (a benchmark
        bound to a core it cannot run on would only fail later, inside its subprocess);
        else all of those."""
        allowed = (tuple(sorted(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity")
                   else tuple(range(os.cpu_count() or 1)))
        if self.cores is None:
            return allowed
        missing = sorted(set(self.cores) - set(allowed))
        if missing:
            raise ValueError(f"--cores {format_cores(self.cores)}: CPU(s) {format_cores(missing)} are not "
                             f"available to this process, which may use {format_cores(allowed)}")
        return self.cores

    def resolved_threads(self) -> int | None:
        if self.threads is not None:
            return self.threads
        env = os.environ.get("OMP_NUM_THREADS", "")
        return int(env) if env.isdigit() and int(env) > 0 else None


def planned(options: RunOptions) -> list[tuple[str, str, str, str, int | None]]:
    """(model, mode, precision, variant, batch override) of every benchmark to run."""
    sel = options.selection
    if options.suite is not None:
        suite = get_suite(options.suite)
        if suite.entries is not None:
            chosen = [(e.model, e.mode, e.precision, e.variant, e.batch_size)
                      for e in suite.entries if sel.admits(e.model, e.mode, e.precision,
                                                           e.variant)]
        else:
            chosen = [(*combo, None) for combo in expand(sel)]
    else:
        chosen = [(*combo, None) for combo in expand(sel)]
    if options.batch_size is not None:
        chosen = [(*c[:4], options.batch_size) for c in chosen]
    if not chosen:
        raise ValueError("nothing to run: no supported benchmark matches the selection "
                         "(see `python -m benchmarks list`)")
    return chosen


def side_by_side_groups(combos: Sequence[tuple[str, str, str, str, int | None]], sets: int = 1
                        ) -> list[list[tuple[str, str, str, str, int | None]]]:
    """The groups timed side by side: ``sets`` consecutive comparison sets each. A set is the
    consecutive benchmarks of one model, mode, precision and batch (a baseline and the
    variants compared with it, which `planned` lists together); it is never split."""
    comparison_sets: list[list[tuple[str, str, str, str, int | None]]] = []
    for combo in combos:
        last = comparison_sets[-1][-1] if comparison_sets else None
        if last is not None and (last[:3], last[4]) == (combo[:3], combo[4]):
            comparison_sets[-1].append(combo)
        else:
            comparison_sets.append([combo])
    return [[combo for group_set in comparison_sets[i:i + sets] for combo in group_set]
            for i in range(0, len(comparison_sets), sets)]


def reproduce_command(options: RunOptions, combo: Sequence[Any], batch: int,
                      cores: Sequence[int], threads: int | None,
                      policy: TimingPolicy) -> tuple[str, ...]:
    model, mode, precision, variant = combo[:4]
    argv = ["python", "-m", "benchmarks", "run", "--models", model, "--modes", mode,
            "--precisions", precision, "--variants", variant, "--batch-size", str(batch),
            "--cores", format_cores(cores), "--scenario", options.scenario,
            "--time-budget", str(policy.budget_s), "--warmup-max", str(policy.warmup_max_s),
            "--min-iters", str(policy.min_iters)]
    if threads is not None:
        argv += ["--threads", str(threads)]
    if options.processes is not None:
        argv += ["--processes", str(options.processes)]
    if options.instances is not None:
        argv += ["--instances", str(options.instances)]
    argv.append("--launcher" if options.launcher else "--no-launcher")
    for flag, on in (("--channels-last", options.channels_last), ("--tiny", options.tiny)):
        if on:
            argv.append(flag)
    return (*argv, "--out", "results.json")


def launcher_command(plans: Sequence[InstancePlan], program: Sequence[str]) -> list[str]:
    """``python -m optlib.launch`` starting ``program`` once per planned instance, on the
    same cores the runner would have used."""
    all_cores = [c for p in plans for c in p.cores]
    return [sys.executable, "-m", "optlib.launch", "--ninstances", str(len(plans)),
            "--ncores-per-instance", str(len(plans[0].cores)),
            "--core-list", format_cores(all_cores), *program]


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _kill_running(procs: list[subprocess.Popen[bytes]]) -> None:
    """Kill (with their process groups) those of ``procs`` still running."""
    for proc in procs:
        if proc.poll() is None:
            _kill(proc)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _start(cmd: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    # A session of its own, so that a timeout kills the benchmark's whole process tree
    # (compile workers, launcher instances), not only its first process.
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def _commands(specs: list[BenchmarkSpec], plans: list[InstancePlan], options: RunOptions,
              workdir: Path, out_dir: Path) -> list[tuple[list[str], dict[str, str]]]:
    """The processes that run one benchmark's instances: one launcher, or one child each."""
    commands: list[tuple[list[str], dict[str, str]]] = []
    if options.launcher:
        spec_file = workdir / "spec.json"
        spec_file.write_text(json.dumps(replace(specs[0], cores=()).to_dict()))
        cmd = launcher_command(plans, [str(_CHILD), "--spec", str(spec_file),
                                       "--out-dir", str(out_dir)])
        env = _child_env(plans[0].threads)
        # The launcher sets the thread variables itself and never overrides one already set.
        env.pop("OMP_NUM_THREADS")
        env.pop("MKL_NUM_THREADS")
        commands.append((cmd, env))
    else:
        for i, spec in enumerate(specs):
            spec_file = workdir / f"spec-{i}.json"
            spec_file.write_text(json.dumps(spec.to_dict()))
            cmd = [sys.executable, str(_CHILD), "--spec", str(spec_file), "--out-dir",
                   str(out_dir)]
            commands.append((cmd, _child_env(spec.threads)))
    return commands


def _measure(members: list[list[BenchmarkSpec]], plans: list[InstancePlan], options: RunOptions,
             timeout_s: float, processes: int) -> list[tuple[list[list[dict[str, Any]]], str | None]]:
    """Each benchmark's outcomes per fresh process (its repeats) and its error. Several
    benchmarks run once, side by side; one runs in ``processes`` processes, one after another."""
    if len(members) > 1:
        with tempfile.TemporaryDirectory(prefix="perfhud-bench-") as tmp:
            return [([outcomes], error) for outcomes, error in _run_group(members, plans, options, timeout_s,
                                                                          Path(tmp))]
    results = []
    for specs in members:
        repeats: list[list[dict[str, Any]]] = []
        error = None
        while error is None and len(repeats) < processes:
            with tempfile.TemporaryDirectory(prefix="perfhud-bench-") as tmp:
                (outcomes, error), = _run_group([specs], plans, options, timeout_s, Path(tmp))
            repeats.append(outcomes)
        results.append((repeats, error))
    return results


def _run_group(members: list[list[BenchmarkSpec]], plans: list[InstancePlan], options: RunOptions,
               timeout_s: float, workdir: Path) -> list[tuple[list[dict[str, Any]], str | None]]:
    """Start every instance of each member benchmark, wait, and read their outcomes: each
    member's outcomes and error. Several members run on the same cores at once, taking turns
    (``benchmarks.turns``): ``timeout_s`` bounds their start, all at once, and then each
    member's own turns; a member that outlasts it is killed and fails alone."""
    grouped = len(members) > 1
    started: list[tuple[list[subprocess.Popen[bytes]], Path, Path]] = []
    turn_files: list[Path] = []
    timed_out = False
    out_of_turns: list[int] = []
    try:
        for i, specs in enumerate(members):
            member_dir = workdir / f"member-{i}" if grouped else workdir
            member_dir.mkdir(exist_ok=True)
            out_dir = member_dir / "out"
            out_dir.mkdir()
            turn_files.append(member_dir / "turn")
            log_path = member_dir / "log.txt"
            procs = []
            with open(log_path, "wb") as log:
                for cmd, env in _commands(specs, plans, options, member_dir, out_dir):
                    if grouped:
                        env[turns.TURN_FILE_ENV] = str(turn_files[-1])
                    procs.append(_start(cmd, env, log))
            started.append((procs, out_dir, log_path))
        if grouped:
            running = [lambda ps=procs: any(p.poll() is None for p in ps) for procs, _, _ in started]
            stop = [lambda ps=procs: _kill_running(ps) for procs, _, _ in started]
            out_of_turns = turns.take_turns(turn_files, running, stop, timeout_s)
        # Grouped, every member has exited or been killed by now: this only reaps them.
        deadline = time.monotonic() + timeout_s
        for procs, _, _ in started:
            for proc in procs:
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    timed_out = True
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM from the worker's time limit): never leave a
        # benchmark running (or stopped, waiting for its turn) on cores that the next job
        # will be pinned to.
        for procs, _, _ in started:
            _kill_running(procs)
        raise
    unfinished = [any(p.poll() is None for p in procs) for procs, _, _ in started]
    for procs, _, _ in started:
        _kill_running(procs)
    results = []
    for i, (specs, (procs, out_dir, log_path), late) in enumerate(zip(members, started, unfinished)):
        outcomes = [json.loads(p.read_text()) for p in sorted(out_dir.glob("result-*.json"))]
        codes = [p.returncode for p in procs]
        error = None
        if i in out_of_turns or (timed_out and late):
            error = f"timed out after {timeout_s:.0f}s"
            if grouped:
                error += f" of its own turns (side by side with {len(members) - 1} other benchmark(s))"
        elif len(outcomes) < len(specs):
            error = (f"{len(specs) - len(outcomes)} of {len(specs)} instance(s) wrote no result "
                     f"(exit codes {codes}): {_tail(log_path)}")
        elif any(codes):
            error = f"exited with codes {codes}: {_tail(log_path)}"
        results.append((outcomes, error))
    return results


def _missing_packages(model: str, variant: str) -> list[str]:
    missing = get_variant(variant).missing_packages()
    missing += [p for p in get_model(model).requires
                if p not in missing and importlib.util.find_spec(p) is None]
    return missing


def _summary_text(rows: list[BenchmarkResult], metrics: dict[str, float], key: str) -> str:
    if rows and rows[0].status != "ok":
        return rows[0].error or ""
    p50 = metrics.get(f"{key}_latency_p50")
    thr = metrics.get(f"{key}_throughput")
    unit = rows[1].unit if len(rows) > 1 else ""
    return f"p50 {p50:.3f} ms, {thr:.1f} {unit}" if p50 is not None and thr is not None else ""


def run(options: RunOptions, progress_stream: IO[str] | None = None,
        interactive: bool | None = None) -> ResultsFile:
    """Run every planned benchmark and return the results (not yet written)."""
    suite = get_suite(options.suite) if options.suite else None
    # Unset, side by side timing is the suite's choice; several sets per group ask for it.
    if options.side_by_side is None:
        options = replace(options, side_by_side=options.side_by_side_sets > 1 or bool(suite and suite.side_by_side))
    policy = options.policy or (suite.policy if suite else TimingPolicy())
    timeout_s = options.timeout_s or (suite.timeout_s if suite else DEFAULT_TIMEOUT_S)
    processes = options.processes or 1
    # Each process times its share of the budget, so more processes cost only their setup.
    process_policy = replace(policy, budget_s=policy.budget_s / processes)
    combos = planned(options)
    cores = options.resolved_cores()
    threads = options.resolved_threads()
    plans = plan_instances(options.scenario, cores, threads, options.instances)
    environ = collect_environment(cores, threads or len(plans[0].cores))
    environ.update({"suite": options.suite, "scenario": options.scenario,
                    "instances": len(plans), "launcher": options.launcher,
                    "instance_cores": [list(p.cores) for p in plans]})
    # Turns are taken by whole processes: one instance, one process per benchmark.
    side_by_side = bool(options.side_by_side) and len(plans) == 1 and processes == 1 and turns.SUPPORTED
    environ["side_by_side"] = side_by_side
    if side_by_side:
        environ["side_by_side_sets"] = options.side_by_side_sets
    rows: list[BenchmarkResult] = []
    metrics: dict[str, float] = {}
    progress = Progress(len(combos), progress_stream, interactive)
    started = time.monotonic()
    try:
        groups = (side_by_side_groups(combos, options.side_by_side_sets) if side_by_side
                  else [[c] for c in combos])
        for group in groups:
            prepared = []
            names = ["-".join(combo[:4]) for combo in group]
            for key, combo in zip(names, group):
                model, mode, precision, variant, batch_override = combo
                batch = batch_for(model, mode, options.scenario, batch_override)
                specs = [BenchmarkSpec(model=model, mode=mode, precision=precision, variant=variant,
                                       batch_size=batch, threads=p.threads, cores=p.cores,
                                       tiny=options.tiny, channels_last=options.channels_last,
                                       scenario=options.scenario, seed=options.seed,
                                       policy=process_policy)
                         for p in plans]
                ident = BenchmarkIdentity(
                    model=model, mode=mode, precision=precision, variant=variant,
                    family=get_model(model).family, scenario=options.scenario,
                    command=reproduce_command(options, combo, batch, cores, threads, policy),
                    config={"spec": specs[0].to_dict(), "instances": len(plans),
                            "processes": processes, "launcher": options.launcher,
                            "side_by_side_with": [name for name in names if name != key]})
                prepared.append((key, specs, ident, _missing_packages(model, variant)))
            progress.begin(" + ".join(names) if len(names) <= 2 else f"{len(names)} benchmarks side by side")
            to_run = [(key, specs) for key, specs, _, missing in prepared if not missing]
            ran = dict(zip([key for key, _ in to_run],
                           _measure([specs for _, specs in to_run], plans, options, timeout_s, processes)))
            for key, _, ident, missing in prepared:
                if missing:
                    new_rows, new_metrics = not_run(
                        ident, "skipped", f"needs package(s) not installed: {', '.join(missing)}")
                else:
                    repeats, error = ran[key]
                    if error is not None:
                        new_rows, new_metrics = not_run(ident, "failed", error)
                    else:
                        new_rows, new_metrics = summarize(ident, merge_repeats(repeats))
                rows.extend(new_rows)
                metrics.update(new_metrics)
                progress.finish(key, new_rows[0].status, _summary_text(new_rows, new_metrics, key))
    finally:
        progress.close()
    environ["duration_s"] = round(time.monotonic() - started, 1)
    runtime = next((r.config["instance_runtime"] for r in rows
                    if r.status == "ok" and r.config.get("instance_runtime")), None)
    if runtime:
        facts = runtime[0].get("runtime", {})
        environ["torch_cpu_capability"] = facts.get("cpu_capability")
        if facts.get("optlib_version"):
            environ["optlib_version"] = facts["optlib_version"]
    return ResultsFile(name=options.name, environ=environ, metrics=metrics, results=tuple(rows))
