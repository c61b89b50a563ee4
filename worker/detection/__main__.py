"""`python -m worker.detection evaluate FILE.jsonl [--json] [--split all|even|odd] [--set k=v] [--intervals]`,
`python -m worker.detection compare FILE.jsonl [FILE ...] --set k=v [--base k=v] [--json]` and
`python -m worker.detection generate --series N --seed S [--out FILE.jsonl]`.

Replays every series of FILE through the detector and the trackers in use (fixed 5 %
threshold, lookback z-score, sliding-window t-test), point by point, and prints precision,
recall (overall and by change size), false alarms per 1,000 commits, delays and time per
update. `--json` prints one object for our detector, with the others under `baselines`.
`--set` overrides a DetectorConfig field (e.g. `--set z_confirm=7`), for tuning on one split
and checking on the other. `--intervals` adds a 90 % bootstrap interval over the series to each
of our figures (`paired.intervals`).

`compare` replays the series of every FILE under two settings of our detector, A (the
defaults, changed by `--base`) and B (A changed by `--set`), and prints each figure under
both with a paired bootstrap interval of B - A over the series (`paired.py`), marking the
differences that the luck of the series does not explain.

`generate` writes N labelled series drawn afresh from the noise model of `synthetic.py` in
the same format, so that the figures can be checked on data nobody tuned on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys

import numpy as np
import scipy

from .ceiling import known_noise_bound
from .evaluate import (
    format_differences,
    format_intervals,
    format_number,
    format_pct,
    format_table,
    methods,
    outcomes_in_parallel,
    read_rows,
    score,
    select,
    series_from_rows,
    size_label,
    tally,
)
from .model import DetectorConfig
from .paired import DEFAULT_LEVEL, DEFAULT_RESAMPLES, compare, intervals
from .synthetic import generate


def _config(overrides: list[str], base: DetectorConfig | None = None) -> DetectorConfig:
    fields = {f.name: f.type for f in dataclasses.fields(DetectorConfig)}
    values: dict[str, object] = {}
    for item in overrides:
        name, sep, raw = item.partition("=")
        if not sep or name not in fields:
            raise SystemExit(f"--set {item!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}")
        try:
            values[name] = int(raw) if fields[name] in ("int", int) else float(raw)
        except ValueError:
            raise SystemExit(f"--set {item!r}: {raw!r} is not a number") from None
    try:
        return dataclasses.replace(base or DetectorConfig(), **values)
    except ValueError as exc:
        raise SystemExit(f"--set: {exc}") from exc


def _environment() -> str:
    """CPU model, logical CPUs and library versions, printed next to the timings."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, python {platform.python_version()}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}; timings are one thread, one run"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.detection", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="replay a labelled file and score the detectors")
    ev.add_argument("file")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--split", default="all", choices=("all", "even", "odd"))
    ev.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ev.add_argument("--only-ours", action="store_true", help="skip the other trackers")
    ev.add_argument("--intervals", action="store_true",
                    help="also a 90%% bootstrap interval over the series for each of our figures")
    cmp = sub.add_parser("compare", help="two settings of our detector on the same series, with paired intervals")
    cmp.add_argument("files", nargs="+", metavar="FILE")
    cmp.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="setting B (relative to A)")
    cmp.add_argument("--base", action="append", default=[], metavar="NAME=VALUE", help="setting A (default: the defaults)")
    cmp.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES)
    cmp.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="interval level (default 0.9)")
    cmp.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="replay processes (default: all CPUs)")
    cmp.add_argument("--json", action="store_true", help="print one JSON object")
    gen = sub.add_parser("generate", help="write labelled series drawn from the synthetic noise model")
    gen.add_argument("--series", type=int, default=300, help="how many series (default 300)")
    gen.add_argument("--seed", type=int, required=True)
    gen.add_argument("--out", help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    if args.command == "generate":
        return _generate(args.series, args.seed, args.out)
    if args.command == "compare":
        return _compare(args)

    config = _config(args.set)
    try:
        rows = read_rows(args.file)
        series = select(series_from_rows(rows, args.file), args.split)
        bound = known_noise_bound(
            (row for _, row in select(rows, args.split)),
            z=config.z_confirm, max_lag=config.slow_max_lag, pre_window=config.pre_window, min_post=config.min_post,
        )
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    factories = methods(config)
    if args.only_ours:
        factories = {"perfhud": factories["perfhud"]}
    ours_total, ours_outcomes = tally(series, factories.pop("perfhud"))
    results = {"perfhud": ours_total.summary()} | {name: score(series, factory) for name, factory in factories.items()}
    spread = intervals(ours_outcomes) if args.intervals else None

    if args.json:
        ours = dict(results.pop("perfhud"))
        ours["split"] = args.split
        ours["config"] = dataclasses.asdict(config)
        ours["baselines"] = results
        ours["known_noise_bound"] = None if bound is None else dataclasses.asdict(bound)
        if spread is not None:
            ours["intervals"] = {"level": DEFAULT_LEVEL, **{name: list(v) for name, v in spread.items()}}
        print(json.dumps(ours, indent=2))
        return 0
    total = sum(len(s.points) for s in series)
    print(f"{args.file}: {len(series)} series ({args.split}), {total} measured commits")
    print(f"environment: {_environment()}")
    print(format_table(results))
    if spread is not None:
        print(format_intervals(spread, DEFAULT_LEVEL))
    if bound is not None:
        print(
            f"known-noise bound (each series' true noise, Gaussian, z >= {config.z_confirm:g} after "
            f"{config.min_post} to {config.slow_max_lag} points against <= {config.pre_window}): "
            + "  ".join(f"{size_label(float(s))} {format_pct(r)}" for s, r in bound.recall_by_size.items())
            + f"  delay median {format_number(bound.delay_median)}, p90 {format_number(bound.delay_p90)}"
        )
    return 0


def _compare(args: argparse.Namespace) -> int:
    config_a = _config(args.base)
    config_b = _config(args.set, config_a)
    if args.jobs < 1:
        raise SystemExit(f"--jobs {args.jobs}: must be at least 1")
    try:
        series = [s for path in args.files for s in series_from_rows(read_rows(path), path)]
        if not series:
            raise ValueError(f"no series in {', '.join(args.files)}")
        a = outcomes_in_parallel(config_a, series, args.jobs)
        b = a if config_b == config_a else outcomes_in_parallel(config_b, series, args.jobs)
        differences = compare(a, b, resamples=args.resamples, level=args.level)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    changed = {k: v for k, v in dataclasses.asdict(config_b).items() if getattr(config_a, k) != v}
    if args.json:
        print(json.dumps({
            "series": len(series),
            "a": dataclasses.asdict(config_a),
            "b_changes": changed,
            "level": args.level,
            "resamples": args.resamples,
            "figures": [dataclasses.asdict(d) | {"clear": d.clear} for d in differences],
        }, indent=2))
        return 0
    files = ", ".join(args.files) if len(args.files) <= 3 else f"{len(args.files)} files ({args.files[0]} ... {args.files[-1]})"
    print(f"{files}: {len(series)} series")
    print(f"A: the defaults{''.join(f', {item}' for item in args.base)}")
    print(f"B: A with {', '.join(f'{k}={v}' for k, v in changed.items()) or 'no change'}")
    print(format_differences(differences, args.level))
    return 0


def _generate(n_series: int, seed: int, out: str | None) -> int:
    try:
        rows = generate(n_series, seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        print(f"error: cannot write {out}: {exc}", file=sys.stderr)
        return 2
    print(f"{out}: {n_series} series, seed {seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
