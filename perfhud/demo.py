"""The demo: a small git repository with a planted regression, registered and backfilled.

It shows the whole loop on a fresh machine without GitHub: twelve commits of a tiny Python
project whose ``perfhud.toml`` runs a micro-benchmark; commit 9 makes one function about 25 %
slower. Like the real suite, the benchmark measures the project's path next to a fixed
baseline in the same run (variants ``optimized`` and ``eager``), so change detection follows
their ratio and a busy machine does not hide the regression. After the backfill the HUD fills
in and flags that commit red.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from perfhud.settings import Settings

DEMO_REPOSITORY = "demo/microbench"
REGRESSION_COMMIT = 9  # 1-based position of the commit that slows checksum() down
_COMMITS = 12

_PERFHUD_TOML = """\
[benchmark]
command = ["python", "bench.py", "--out", "{results}"]
timeout = 300
"""

_BENCH = '''\
"""Times the workload's functions and writes a perfhud results file."""

import argparse
import json
import os
import platform
import statistics
import time

import workload

REPEATS = 61


def measure(functions):
    """CPU time per call, the functions interleaved so that they share the machine's drift."""
    for fn in functions.values():
        fn()
    samples = {name: [] for name in functions}
    for _ in range(REPEATS):
        for name, fn in functions.items():
            start = time.process_time()
            fn()
            samples[name].append((time.process_time() - start) * 1000.0)
    return samples


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out
    results, metrics = [], {}
    # The tracked series is the project's path; the fixed baseline is its control, and
    # wordsort is charted. Only primary metrics raise alerts.
    tracked = {("checksum", "optimized")}
    measured = measure({
        ("checksum", "eager"): workload.checksum_baseline,
        ("checksum", "optimized"): workload.checksum,
        ("wordsort", "eager"): workload.sort_words,
    })
    for (model, variant), samples in measured.items():
        results.append({
            "model": model, "mode": "eval", "precision": "fp32", "variant": variant,
            "family": "micro", "metric": "latency_p50", "unit": "ms", "direction": "lower",
            "samples": samples, "primary": (model, variant) in tracked, "status": "ok",
            "command": ["python", "bench.py", "--out", out],
        })
        metrics[f"{model}-eval-fp32-{variant}_latency_p50"] = statistics.median(samples)
    environ = {
        "cpu_model": platform.processor() or platform.machine(),
        "threads": int(os.environ.get("OMP_NUM_THREADS", "1")),
        "python": platform.python_version(),
    }
    with open(out, "w") as f:
        json.dump({"name": "demo", "environ": environ, "metrics": metrics, "results": results}, f)


if __name__ == "__main__":
    main()
'''


def _workload(extra_rounds: int) -> str:
    return textwrap.dedent(
        f'''\
        """The code under test. EXTRA_ROUNDS > 0 is the planted regression."""

        EXTRA_ROUNDS = {extra_rounds}
        WORDS = [f"w{{(i * 7919) % 10007}}" for i in range(10000)]


        def _rounds(n):
            total = 0
            for _ in range(n):
                for i in range(25000):
                    total = (total * 31 + i) % 1000003
            return total


        def checksum_baseline():
            """The reference implementation; it never changes."""
            return _rounds(4)


        def checksum():
            """The project's implementation."""
            return _rounds(4 + EXTRA_ROUNDS)


        def sort_words():
            return sorted(WORDS, key=lambda w: (len(w), w))
        '''
    )


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=perfhud demo", "-c", "user.email=demo@perfhud.invalid", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout.strip()


def make_demo_repository(path: Path) -> Path:
    """Create the demo repository at ``path`` (12 commits; commit 9 slows checksum by ~25 %)."""
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q", "-b", "main")
    (path / "perfhud.toml").write_text(_PERFHUD_TOML)
    (path / "bench.py").write_text(_BENCH)
    for n in range(1, _COMMITS + 1):
        slow = n >= REGRESSION_COMMIT
        (path / "workload.py").write_text(_workload(1 if slow else 0))
        (path / "NOTES.md").write_text(f"Demo history, step {n}.\n")
        _git(path, "add", "-A")
        title = "Recompute checksum once more for safety" if n == REGRESSION_COMMIT else f"Tidy the demo, step {n}"
        _git(path, "commit", "-q", "-m", title)
    return path


def ensure_demo(settings: Settings) -> str:
    """Create, register and backfill the demo; safe to call again (a later call, or one after
    an interrupted first start, finishes what is missing and queues nothing twice)."""
    from worker.backfill import backfill
    from worker.repos import add_repository

    repo_dir = settings.data_dir / "demo" / "microbench"
    created = not (repo_dir / ".git").exists()
    if created:
        make_demo_repository(repo_dir)
    add_repository(settings, DEMO_REPOSITORY, clone_url=str(repo_dir), default_branch="main")
    job_ids = backfill(settings, DEMO_REPOSITORY, last=_COMMITS, branch="main")
    if not created and not job_ids:
        return f"demo: {DEMO_REPOSITORY} already set up; its jobs were queued before"
    return (
        f"demo: {DEMO_REPOSITORY} with {_COMMITS} commits (commit {REGRESSION_COMMIT} makes checksum ~25 % "
        f"slower); {len(job_ids)} jobs queued, the HUD fills in over the next minutes"
    )
