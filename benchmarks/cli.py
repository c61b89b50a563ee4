"""``python -m benchmarks``: run, list, compare.

Exit codes: 0 success; 1 a benchmark failed (``run``) or a significant regression was found
with ``--fail-on-regression`` (``compare``); 2 bad usage (unknown names, malformed files).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace

from benchmarks.measure import TimingPolicy
from benchmarks.results import ResultsError, ResultsFile, load_results, write_results

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
QUICK = TimingPolicy(budget_s=0.5, min_iters=3, warmup_max_s=0.5, warmup_min_iters=1)


def _names(values: Sequence[str] | None) -> tuple[str, ...] | None:
    """Accept both ``--models a b`` and ``--models a,b``."""
    if not values:
        return None
    return tuple(n for v in values for n in v.split(",") if n)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description="CPU benchmarks: stock PyTorch vs optlib.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run benchmarks and write a results file")
    run.add_argument("--suite", help="ci (every commit, minutes) or full (the whole matrix); "
                                     "default: ci unless a selection is given")
    for name in ("models", "modes", "precisions", "variants"):
        run.add_argument(f"--{name}", nargs="+", metavar="NAME",
                         help=f"restrict to these {name} (space or comma separated)")
    run.add_argument("--out", default="results.json", help="results file (default: %(default)s)")
    run.add_argument("--threads", type=int, help="threads per instance (default: "
                                                 "OMP_NUM_THREADS, else one per core)")
    run.add_argument("--cores", help="cores to pin to, e.g. 0-3,6 (default: this process's)")
    run.add_argument("--instances", type=int, help="benchmark instances sharing the cores")
    run.add_argument("--processes", type=int,
                     help="run each benchmark in this many fresh processes, one after another, "
                          "each timing its share of the budget; percentiles pool them all")
    run.add_argument("--scenario", default="default", choices=("default", "offline", "realtime"),
                     help="offline: all cores, large batch; realtime: batch 1, 4 cores per "
                          "instance")
    run.add_argument("--launcher", action=argparse.BooleanOptionalAction, default=True,
                     help="start each benchmark through optlib.launch (jemalloc, passive OpenMP "
                          "waiting); default: on (--no-launcher: off)")
    run.add_argument("--side-by-side", action=argparse.BooleanOptionalAction, default=None,
                     help="time each model's variants side by side, taking turns in short blocks on "
                          "the same cores (one instance, one process); default: the suite's choice "
                          "(on for ci), else off")
    run.add_argument("--side-by-side-sets", type=int, metavar="N", default=1,
                     help="how many models' comparison sets (a baseline and its variants) take "
                          "turns in one side-by-side group; above 1 implies --side-by-side. More "
                          "spreads each benchmark's timing over more of the run, so that a slow "
                          "spell of the host falls on a part of each one's samples, and keeps more "
                          "processes alive at once: the peak memory of the ten ci benchmarks "
                          "adds up to 8 GB (default: %(default)s)")
    run.add_argument("--channels-last", action="store_true", help="channels_last inputs/model")
    run.add_argument("--tiny", action="store_true", help="tiny model sizes (for tests)")
    run.add_argument("--batch-size", type=int, help="override every benchmark's batch size")
    run.add_argument("--time-budget", type=float, help="seconds of timed iterations each")
    run.add_argument("--warmup-max", type=float, help="upper bound on warm-up seconds")
    run.add_argument("--min-iters", type=int, help="at least this many timed iterations")
    run.add_argument("--quick", action="store_true", help="short budgets (smoke runs)")
    run.add_argument("--timeout", type=float, help="seconds before a benchmark is killed")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--name", default="perfhud-cpu", help="the results file's name field")

    sub.add_parser("list", help="every model, mode, precision, variant and suite")

    cmp = sub.add_parser("compare", help="ratios B/A with a Mann-Whitney U test")
    cmp.add_argument("a")
    cmp.add_argument("b")
    cmp.add_argument("--alpha", type=float, default=0.01, help="significance level")
    cmp.add_argument("--min-change", type=float, default=0.02,
                     help="smallest relative change worth flagging (default 2%%)")
    cmp.add_argument("--all-metrics", action="store_true", help="not only the primary ones")
    cmp.add_argument("--fail-on-regression", action="store_true",
                     help="exit 1 when a change is significantly worse")
    return parser


def _policy(args: argparse.Namespace, base: TimingPolicy | None) -> TimingPolicy | None:
    policy = QUICK if args.quick else base
    updates = {k: v for k, v in (("budget_s", args.time_budget),
                                 ("warmup_max_s", args.warmup_max),
                                 ("min_iters", args.min_iters)) if v is not None}
    if not updates:
        return policy
    policy = policy or TimingPolicy()
    if "min_iters" in updates:
        updates["max_iters"] = max(policy.max_iters, updates["min_iters"])
    return replace(policy, **updates)


def _cmd_run(args: argparse.Namespace) -> int:
    from benchmarks.cores import parse_cores
    from benchmarks.plan import Selection
    from benchmarks.runner import RunOptions, run
    from benchmarks.suites import get_suite

    selection = Selection(models=_names(args.models), modes=_names(args.modes),
                          precisions=_names(args.precisions), variants=_names(args.variants))
    suite = args.suite
    if suite is None and selection == Selection():
        suite = "ci"
    base = get_suite(suite).policy if suite else None
    options = RunOptions(
        suite=suite, selection=selection,
        cores=parse_cores(args.cores) if args.cores else None, threads=args.threads,
        instances=args.instances, scenario=args.scenario, launcher=args.launcher,
        channels_last=args.channels_last, tiny=args.tiny, batch_size=args.batch_size,
        policy=_policy(args, base), timeout_s=args.timeout, seed=args.seed, name=args.name,
        processes=args.processes, side_by_side=args.side_by_side,
        side_by_side_sets=args.side_by_side_sets)
    # SIGTERM (a job's time limit) unwinds like Ctrl-C, so running benchmarks are killed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    results = run(options)
    write_results(results, args.out)
    print(_environment_text(results))
    print(_results_table(results))
    failed = results.failed()
    print(f"\nwrote {args.out}: {len(results.results)} rows, "
          f"{len({r.benchmark for r in failed})} benchmark(s) failed")
    return EXIT_FAILED if failed else EXIT_OK


def _environment_text(results: ResultsFile) -> str:
    env = results.environ
    return (f"environment: {env.get('cpu_model')} | ISA {' '.join(env.get('isa', []))} | "
            f"cores {env.get('cores')} | threads {env.get('threads')} | torch "
            f"{env.get('torch_version')} | optlib {env.get('optlib_version')} | git "
            f"{(env.get('git_sha') or 'unknown')[:12]}")


def _results_table(results: ResultsFile) -> str:
    lines = [f"{'benchmark':44} {'status':8} {'p50 ms':>10} {'p90 ms':>10} {'p99 ms':>10} "
             f"{'throughput':>12} {'accuracy':>10}"]
    seen: set[str] = set()
    for row in results.results:
        if row.benchmark in seen:
            continue
        seen.add(row.benchmark)
        m = results.metrics
        if row.status != "ok":
            lines.append(f"{row.benchmark:44} {row.status:8} {row.error}")
            continue
        acc = m.get(f"{row.benchmark}_sqnr", m.get(f"{row.benchmark}_max_rel_error"))
        lines.append(
            f"{row.benchmark:44} {'ok':8} {m[row.benchmark + '_latency_p50']:10.3f} "
            f"{m[row.benchmark + '_latency_p90']:10.3f} {m[row.benchmark + '_latency_p99']:10.3f}"
            f" {m[row.benchmark + '_throughput']:12.1f} {'' if acc is None else f'{acc:.3g}':>10}")
    return "\n".join(lines)


def _cmd_list() -> int:
    from benchmarks.models import MODES, all_models
    from benchmarks.suites import SUITES
    from benchmarks.variants import PRECISIONS, all_variants

    print("models:")
    for spec in all_models().values():
        print(f"  {spec.name:20} {spec.family:12} modes {','.join(spec.modes):20} batch "
              f"eval {spec.eval_batch}/train {spec.train_batch}/offline {spec.offline_batch}"
              f"  {spec.description}")
    print(f"modes: {', '.join(MODES)}")
    print(f"precisions: {', '.join(PRECISIONS)}")
    print("variants:")
    for v in all_variants().values():
        missing = v.missing_packages()
        state = f"  [skipped here: missing {', '.join(missing)}]" if missing else ""
        print(f"  {v.name:14} modes {','.join(v.modes):20} precisions "
              f"{','.join(v.precisions):14} {v.description}{state}")
    print("suites:")
    for suite in SUITES.values():
        print(f"  {suite.name:6} {suite.description}")
    return EXIT_OK


def _cmd_compare(args: argparse.Namespace) -> int:
    from benchmarks.compare import compare_results, format_comparisons

    a, b = load_results(args.a), load_results(args.b)
    comparisons = compare_results(a, b, alpha=args.alpha, min_change=args.min_change,
                                  primary_only=not args.all_metrics)
    print(format_comparisons(comparisons))
    if args.fail_on_regression and any(c.verdict == "worse" for c in comparisons):
        return EXIT_FAILED
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "list":
            return _cmd_list()
        return _cmd_compare(args)
    except ResultsError as exc:
        print(f"error: invalid results file: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
