"""A small labelled file in the detect-dev.jsonl format, and the detection command run on it,
for the tests of `evaluate` and `compare`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]


def write_file(path: Path, series) -> None:
    """Four series of 120 commits (one unmeasured): a 20, 10 and 5 % change at commit 60 and
    one without a change."""
    rows = []
    for i, (lower_is_better, rel) in enumerate([(True, 0.2), (False, -0.1), (True, -0.05), (False, 0.0)]):
        steps = [(60, rel)] if rel else []
        points = series(n=120, k=3, cv=0.005, steps=steps, seed=i)
        raw = [list(p.samples) for p in points]
        raw[30] = []  # an unmeasured commit
        rows.append(
            {
                "id": f"t-{i}",
                "benchmark": f"b{i}",
                "metric": "latency" if lower_is_better else "throughput",
                "unit": "ms",
                "lower_is_better": lower_is_better,
                "n_commits": len(raw),
                "repeats": 3,
                "values": [float(np.median(r)) if r else None for r in raw],
                "raw": raw,
                "changes": [
                    {"index": 60, "rel_change": rel, "magnitude": abs(rel), "direction": "x"}
                ]
                if rel
                else [],
                "noise": {},
            }
        )
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "worker.detection", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
