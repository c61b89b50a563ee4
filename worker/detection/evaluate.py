"""Replay labelled series point by point through a detector and score what it raises.

The replay is streaming: the verdicts returned after point i can only use points up to i,
and an alert counts at the point that raised it (its delay). The detector sees the samples
and the direction of the metric only; the `changes` field is read for scoring and `noise`
is never read.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence, TypeVar

from .baselines import FixedThresholdDetector, LookbackZScoreDetector, SlidingTTestDetector
from .detector import SeriesDetector
from .model import DetectorConfig, Point, Verdict
from .paired import Difference
from .scoring import SIZES, Detection, SeriesOutcome, Tally, TrueChange


class StreamDetector(Protocol):
    def update(self, point: Point) -> list[Verdict]: ...


DetectorFactory = Callable[[bool], StreamDetector]


@dataclass(frozen=True)
class LabelledSeries:
    id: str
    lower_is_better: bool
    n_commits: int
    points: tuple[tuple[int, Point], ...]
    truths: tuple[TrueChange, ...]


def read_rows(path: str | Path) -> list[tuple[int, dict]]:
    """The rows of a file in the detect-dev.jsonl format (one series per line), each with its
    line number, blank lines skipped. Read once: the replay and the known-noise bound both
    take their rows from here."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not a labelled series ({exc})") from exc
    return rows


def series_from_rows(rows: Iterable[tuple[int, dict]], path: str | Path) -> list[LabelledSeries]:
    """The labelled series of `read_rows`' rows; `path` names the file in error messages."""
    out = []
    for lineno, row in rows:
        try:
            raw = row["raw"]
            points = tuple(
                (i, Point(commit=str(i), samples=tuple(samples)))
                for i, samples in enumerate(raw)
                if samples
            )
            truths = tuple(
                TrueChange(index=int(c["index"]), magnitude=float(c["magnitude"]))
                for c in row.get("changes", [])
            )
            out.append(
                LabelledSeries(
                    id=str(row.get("id", lineno)),
                    lower_is_better=bool(row["lower_is_better"]),
                    n_commits=int(row.get("n_commits", len(raw))),
                    points=points,
                    truths=truths,
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}:{lineno}: not a labelled series ({exc})") from exc
    return out


def replay(series: LabelledSeries, factory: DetectorFactory) -> tuple[list[Detection], float]:
    """Stream one series through a fresh detector; its alerts and the seconds spent in it."""
    detector = factory(series.lower_is_better)
    alerted: set[str] = set()
    detections: list[Detection] = []
    spent = 0.0
    for index, point in series.points:
        t0 = time.perf_counter()
        verdicts = detector.update(point)
        spent += time.perf_counter() - t0
        for v in verdicts:
            if v.is_alert and v.commit not in alerted:
                alerted.add(v.commit)
                detections.append(Detection(location=int(v.commit), raised_at=index))
    return detections, spent


def score(series: Iterable[LabelledSeries], factory: DetectorFactory) -> dict:
    return tally(series, factory)[0].summary()


def tally(series: Iterable[LabelledSeries], factory: DetectorFactory) -> tuple[Tally, list[SeriesOutcome]]:
    """The replay of every series counted together, and what each series contributed."""
    total = Tally()
    outcomes = []
    for s in series:
        detections, spent = replay(s, factory)
        outcomes.append(
            total.add_series(list(s.truths), detections, n_commits=s.n_commits, updates=len(s.points), seconds=spent)
        )
    return total, outcomes


def outcomes_under(config: DetectorConfig, series: Sequence[LabelledSeries]) -> list[SeriesOutcome]:
    """Per-series outcomes of our detector with `config`; a plain function of picklable
    arguments, so that a process pool can replay parts of a file in parallel."""
    return tally(series, lambda lib: SeriesDetector(lower_is_better=lib, config=config))[1]


def methods(config: DetectorConfig) -> dict[str, DetectorFactory]:
    """Our detector first, then the trackers in use, each with its usual settings."""
    return {
        "perfhud": lambda lib: SeriesDetector(lower_is_better=lib, config=config),
        "fixed-5%": lambda lib: FixedThresholdDetector(lower_is_better=lib, threshold_pct=5.0),
        "lookback-z": lambda lib: LookbackZScoreDetector(lower_is_better=lib, lookback=30, z=5.0),
        "t-test-12/12": lambda lib: SlidingTTestDetector(lower_is_better=lib, back=12, fore=12, t_threshold=7.0),
    }


def outcomes_in_parallel(config: DetectorConfig, series: list[LabelledSeries], jobs: int) -> list[SeriesOutcome]:
    """`outcomes_under` over all series, in `jobs` processes (strided parts, so that long and
    short series spread evenly), in the series' order."""
    if jobs == 1 or len(series) < 2:
        return outcomes_under(config, series)
    parts = [series[i::jobs] for i in range(jobs)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(outcomes_under, [config] * jobs, parts))
    ordered: list[SeriesOutcome] = [None] * len(series)  # type: ignore[list-item]
    for i, part in enumerate(results):
        ordered[i::jobs] = part
    return ordered


T = TypeVar("T")


def select(series: Sequence[T], split: str) -> list[T]:
    """`all`, or the series (or rows) at `even` or `odd` positions of the file (a tuning/held-out split)."""
    if split == "all":
        return list(series)
    if split not in ("even", "odd"):
        raise ValueError(f"unknown split {split!r}; allowed: all, even, odd")
    parity = 0 if split == "even" else 1
    return [s for i, s in enumerate(series) if i % 2 == parity]


def format_table(results: dict[str, dict]) -> str:
    head = ["method", "prec", "recall"] + [size_label(s) for s in SIZES] + [
        "FA/1k",
        "delay med",
        "delay p90",
        "us/update",
        "ms/series",
    ]
    rows = [head]
    for name, r in results.items():
        by = r["recall_by_size"]
        rows.append(
            [name, format_pct(r["precision"]), format_pct(r["recall"])]
            + [format_pct(by[str(s)]) for s in SIZES]
            + [
                f"{r['false_alarms_per_1k']:.2f}",
                format_number(r["delay_median"]),
                format_number(r["delay_p90"]),
                f"{r['us_per_update']:.1f}",
                f"{r['ms_per_series']:.1f}",
            ]
        )
    return align(rows)


def align(rows: list[list[str]]) -> str:
    """Rows of cells as a text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    )


def format_pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def format_number(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def size_label(size: float) -> str:
    """R@5% for the recall of 5 % changes."""
    return f"R@{round(size * 100)}%"


def format_differences(differences: list[Difference], level: float) -> str:
    """`paired.compare` as a table: each figure under A and B, B - A and its interval; `*`
    marks a difference whose interval excludes zero."""
    rows = [["figure", "A", "B", "B - A", f"{round(100 * level)}% interval", ""]]
    for d in differences:
        rows.append([_figure_label(d.name), _show(d.name, d.a), _show(d.name, d.b), _show(d.name, d.delta),
                     _show_interval(d.name, d.low, d.high), "*" if d.clear else ""])
    return align(rows)


def format_intervals(spread: dict[str, tuple[float | None, float | None]], level: float) -> str:
    """`paired.intervals` as a table: one line per figure."""
    rows = [["figure (perfhud)", f"{round(100 * level)}% interval over the series"]]
    rows += [[_figure_label(name), _show_interval(name, *bounds)] for name, bounds in spread.items()]
    return align(rows)


def _figure_label(name: str) -> str:
    return size_label(float(name.removeprefix("recall_"))) if name.startswith("recall_") else name


def _show(name: str, x: float | None) -> str:
    """False alarms per 1,000 commits as they are, every other figure in percent."""
    if name != "false_alarms_per_1k":
        return format_pct(x)
    return "-" if x is None else f"{x:.3f}"


def _show_interval(name: str, low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"[{_show(name, low)}, {_show(name, high)}]"
