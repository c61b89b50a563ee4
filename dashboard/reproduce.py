"""The shell command that reproduces one result on an engineer's machine.

Every value that comes from the store (a repository URL, a sha, a model name) is quoted with
:func:`shlex.quote`: the command is shown for copying, and a branch or model name holding ``;``
or ``$(...)`` must stay inert text when pasted into a shell.
"""

from __future__ import annotations

import shlex

from db.models import Benchmark, Host


def reproduce_command(clone_url: str, sha: str, benchmark: Benchmark, host: Host | None) -> str:
    q = shlex.quote
    run = [
        "python", "-m", "benchmarks", "run",
        "--model", q(benchmark.model),
        "--mode", q(benchmark.mode),
        "--precision", q(benchmark.precision),
        "--variant", q(benchmark.variant),
    ]
    if host is not None and host.threads:
        run += ["--threads", str(int(host.threads))]
    run += ["--out", "results.json"]
    pin = f"taskset -c {q(host.cores)} " if host is not None and host.cores else ""
    return "\n".join(
        [
            f"git clone {q(clone_url)} perfhud-repro && cd perfhud-repro",
            f"git checkout {q(sha)}",
            pin + " ".join(run),
        ]
    )
