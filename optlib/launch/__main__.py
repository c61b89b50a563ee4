"""Entry point of ``python -m optlib.launch``."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from optlib.cpu import cpu_info
from optlib.launch.execute import run_plan
from optlib.launch.machine import probe_tools
from optlib.launch.options import parse_options
from optlib.launch.plan import LaunchError, format_plan, make_plan


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parse_options(sys.argv[1:] if argv is None else argv)
        allowed = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        plan = make_plan(cpu_info(), options, tools=probe_tools(), environ=os.environ,
                         python=sys.executable, allowed_cpus=allowed)
    except (LaunchError, ValueError) as err:
        print(f"optlib.launch: error: {err}", file=sys.stderr)
        return 2
    if options.dry_run:
        print(format_plan(plan))
        return 0
    return run_plan(plan)


if __name__ == "__main__":
    sys.exit(main())
