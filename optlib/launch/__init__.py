"""``python -m optlib.launch``: run PyTorch programs on chosen cores with fast CPU settings.

The launcher works in two steps: :func:`make_plan` computes a frozen :class:`LaunchPlan` from
the machine and the options (a pure function, tested on fake machines), then
:func:`run_plan` carries it out. ``--dry-run`` prints the plan instead.
"""

from optlib.launch.execute import run_plan
from optlib.launch.machine import probe_tools
from optlib.launch.options import LaunchOptions, parse_options
from optlib.launch.plan import InstancePlan, LaunchError, LaunchPlan, Tools, format_plan, make_plan

__all__ = ["InstancePlan", "LaunchError", "LaunchOptions", "LaunchPlan", "Tools", "format_plan",
           "make_plan", "parse_options", "probe_tools", "run_plan"]
