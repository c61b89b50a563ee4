"""The launcher's defaults on a busy machine: the same 2-thread inference with and without it.

    python benchmarks/scripts/launcher.py [--rounds 3] [--iterations 30] [--busy-seconds 900]

A CPU-bound loop runs in another process, pinned to the last core, for the loaded runs (and
is killed at the end, whatever happens; it also stops by itself after ``--busy-seconds``).
Each variant is a fresh process running a ResNet-18-shaped CNN (batch 1, 224x224, eager,
2 threads), printing its per-iteration latencies; variants alternate round by round.

Variants: ``plain`` (python program.py, torch's defaults), ``optlib.launch`` (python -m
optlib.launch program.py, its defaults), and ``optlib.launch + ACTIVE`` (the launcher with
the user's OMP_WAIT_POLICY=ACTIVE, which it keeps: isolates the wait policy's share). The
same runs with both cores free are printed for reference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from optlib.cpu import cpu_info

PROGRAM = r'''
import json, sys, time
import torch
import torch.nn.functional as F
from torch import nn

class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))

def resnet18():
    layers, cin = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)], 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000))

iterations = int(sys.argv[1])
torch.manual_seed(0)
model = resnet18().eval()
x = torch.randn(1, 3, 224, 224)
times = []
with torch.inference_mode():
    for i in range(iterations + 3):
        start = time.perf_counter()
        model(x)
        if i >= 3:
            times.append((time.perf_counter() - start) * 1e3)
print(json.dumps({"threads": torch.get_num_threads(), "ms": times}))
'''

BUSY = ("import os, sys, time\n"
        "os.sched_setaffinity(0, {int(sys.argv[1])})\n"
        "end = time.monotonic() + float(sys.argv[2])\n"
        "while time.monotonic() < end:\n"
        "    pass\n")

OMP_KEYS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_AFFINITY", "KMP_BLOCKTIME", "LD_PRELOAD",
            "MALLOC_CONF", "GOMP_SPINCOUNT")


def variants(program: Path, iterations: int) -> dict[str, tuple[list[str], dict[str, str]]]:
    clean = {k: v for k, v in os.environ.items() if k not in OMP_KEYS}
    launch = [sys.executable, "-m", "optlib.launch"]
    return {
        "plain": ([sys.executable, str(program), str(iterations)], clean),
        "optlib.launch": ([*launch, str(program), str(iterations)], clean),
        "optlib.launch + ACTIVE": ([*launch, str(program), str(iterations)],
                                   {**clean, "OMP_WAIT_POLICY": "ACTIVE"}),
    }


def run(command: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{command} failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def measure(label: str, runs: dict, rounds: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in runs}
    threads: dict[str, int] = {}
    for r in range(rounds):
        names = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in names:
            result = run(*runs[name])
            samples[name].extend(result["ms"])
            threads[name] = result["threads"]
    base = statistics.median(samples["plain"])
    print(f"\n## {label} (load average after: {os.getloadavg()[0]:.1f})\n")
    print(f"{'variant':24} {'threads':>7} {'median ms':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'p99/p50':>8} {'speed vs plain':>15}")
    for name, ms in samples.items():
        p50, p99 = percentile(ms, 0.5), percentile(ms, 0.99)
        print(f"{name:24} {threads[name]:7d} {statistics.median(ms):10.1f} {p50:8.1f} "
              f"{p99:8.1f} {p99 / p50:8.2f} {base / statistics.median(ms):14.2f}x")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--busy-seconds", type=float, default=900.0,
                        help="the busy loop stops by itself after this long")
    parser.add_argument("--skip-free", action="store_true", help="only the loaded runs")
    args = parser.parse_args()
    info = cpu_info()
    allowed = sorted(os.sched_getaffinity(0))
    print(f"CPU: {info.model_name} ({info.arch}), {info.physical_cores} cores / "
          f"{info.logical_cores} threads; ISA: {', '.join(sorted(info.isa))}")
    print(f"torch {torch.__version__}, python {platform.python_version()}, allowed CPUs "
          f"{allowed}; model: ResNet-18 shape, batch 1, 224x224, eager, inference_mode")
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp) / "infer.py"
        program.write_text(PROGRAM)
        runs = variants(program, args.iterations)
        if not args.skip_free:
            measure("no busy loop of ours (other processes on a shared machine remain)", runs,
                    args.rounds)
        busy = subprocess.Popen([sys.executable, "-c", BUSY, str(allowed[-1]),
                                 str(args.busy_seconds)])
        try:
            loaded = measure(f"CPU {allowed[-1]} busy (a CPU-bound loop in another process)",
                             runs, args.rounds)
        finally:
            busy.kill()
            busy.wait()
    ratio = statistics.median(loaded["plain"]) / statistics.median(loaded["optlib.launch"])
    print(f"\nloaded: optlib.launch defaults are {ratio:.2f}x faster than plain (median latency)")


if __name__ == "__main__":
    main()
