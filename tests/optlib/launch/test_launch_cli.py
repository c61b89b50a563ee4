"""``python -m optlib.launch`` as a user runs it: real processes on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, os, sys
print(json.dumps({"cpus": sorted(os.sched_getaffinity(0)), "argv": sys.argv[1:],
                  "env": {k: os.environ.get(k) for k in
                          ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "LD_PRELOAD", "MALLOC_CONF")}}))
"""


def launch(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "LD_PRELOAD", "MALLOC_CONF",
                          "TBB_ENABLE_SANITIZERS")}
    return subprocess.run([sys.executable, "-m", "optlib.launch", *args], capture_output=True,
                          text=True, env={**clean, **env}, timeout=120)


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    program = tmp_path / "prog.py"
    program.write_text(f"open({str(marker)!r}, 'w').close()\n")
    result = launch(["--dry-run", str(program), "--flag"])
    assert result.returncode == 0, result.stderr
    assert "instance 0: cpus" in result.stdout
    assert "env: OMP_WAIT_POLICY=PASSIVE" in result.stdout
    assert f"{program} --flag" in result.stdout
    assert not marker.exists()


def test_instances_run_bound_to_their_cores_with_the_planned_environment(tmp_path: Path) -> None:
    program = tmp_path / "probe.py"
    program.write_text(PROBE)
    allowed = sorted(os.sched_getaffinity(0))
    result = launch(["--ninstances", str(len(allowed)), "--log-dir", str(tmp_path / "logs"),
                     str(program), "a", "b"], OMP_NUM_THREADS="3")
    assert result.returncode == 0, result.stderr
    assert "kept the user's OMP_NUM_THREADS=3" in result.stderr
    logs = sorted((tmp_path / "logs").iterdir())
    assert len(logs) == len(allowed)
    seen = [json.loads(log.read_text()) for log in logs]
    assert sorted(s["cpus"][0] for s in seen) == allowed
    for s in seen:
        assert len(s["cpus"]) == 1 and s["argv"] == ["a", "b"]
        assert s["env"]["OMP_NUM_THREADS"] == "3"
        assert s["env"]["OMP_WAIT_POLICY"] == "PASSIVE"


def test_exit_status_and_errors_reach_the_caller(tmp_path: Path) -> None:
    failing = tmp_path / "fail.py"
    failing.write_text("raise SystemExit(3)\n")
    assert launch([str(failing)]).returncode == 3
    result = launch(["--core-list", "9999", str(failing)])
    assert result.returncode == 2
    assert "do not exist" in result.stderr


OPENVINO_PROGRAM = """
import numpy as np
import openvino as ov
from openvino import opset13 as ops
x = ops.parameter([2, 8], np.float32)
model = ov.Model([ops.relu(x)], [x])
compiled = ov.Core().compile_model(model, "CPU")
print(float(compiled(np.full((2, 8), -1.0, np.float32))[0].sum()))
"""


def test_openvino_runs_under_the_launcher_with_jemalloc_preloaded(tmp_path: Path,
                                                                  jemalloc_beside_openvino: str) -> None:
    """oneTBB inside OpenVINO aborts the process beside a preloaded allocator unless the
    launcher tells it to load hwloc without deep binding."""
    program = tmp_path / "ov_probe.py"
    program.write_text(OPENVINO_PROGRAM)
    result = launch(["--memory-allocator", "jemalloc", str(program)])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "0.0"
