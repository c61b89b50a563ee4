"""The benchmark subprocess: runs one benchmark spec and writes its outcome as JSON.

Each benchmark runs in a fresh process (as pyperf and TorchBench do) so that a crash, a
leaked thread pool, an allocator grown by a previous model or a global set by a compiler
cannot touch the next one, and so that peak RSS is this benchmark's own. The process pins
itself to its cores *before* importing torch, so OpenMP sizes its pool for them.

Runnable as ``python -m benchmarks.child`` or as a script path (which is how
``optlib.launch`` starts it); only the standard library is imported at module level.
The outcome goes to ``<out-dir>/result-<pid>.json`` so that several instances started by a
launcher never write the same file.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    # Several lines, not one: converters put the useful part (which op) after a generic
    # first line.
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    message = " | ".join(lines[:6])
    return f"{type(exc).__name__}: {message}"[:1000] + where


def _runtime_facts() -> dict[str, Any]:
    import torch

    facts: dict[str, Any] = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    optlib = sys.modules.get("optlib")
    if optlib is not None:
        facts["optlib_version"] = getattr(optlib, "__version__", None)
    return facts


def _jsonable(value: Any) -> Any:
    """Plain JSON for the outcome: non-finite floats (a candidate that never ran, timed as
    infinity) become strings, since results files hold only finite numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def _peak_rss_mb() -> float:
    import resource

    # ru_maxrss is in KiB on Linux: the kernel's high-water mark, not a sampled guess.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _channels_last(inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    import torch

    return tuple(t.contiguous(memory_format=torch.channels_last)
                 if isinstance(t, torch.Tensor) and t.dim() == 4 else t for t in inputs)


def run_spec(spec_data: dict[str, Any], workdir: str) -> dict[str, Any]:
    """Build, prepare, check against eager fp32, warm up and time one benchmark."""
    import torch

    from benchmarks import accuracy
    from benchmarks.measure import time_iterations
    from benchmarks.models import BuildOptions, get_model
    from benchmarks.plan import BenchmarkSpec
    from benchmarks.turns import end_turn_function
    from benchmarks.variants import Context, get_variant

    spec = BenchmarkSpec.from_dict(spec_data)
    torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed)
    model_spec, variant = get_model(spec.model), get_variant(spec.variant)
    missing = variant.missing_packages() + [
        p for p in model_spec.requires if importlib.util.find_spec(p) is None]
    if missing:
        return {"status": "skipped",
                "error": f"needs package(s) not installed: {', '.join(missing)}"}
    # Timed side by side with other variants: build, prepare and warm up in this process's
    # own turn, so that no build or optlib timing race runs beside another member.
    end_turn = end_turn_function()
    if end_turn is not None:
        end_turn()
    workload = model_spec.build(BuildOptions(batch_size=spec.batch_size, tiny=spec.tiny,
                                             seed=spec.seed))
    if spec.channels_last:
        workload.inputs = _channels_last(workload.inputs)

    reference = None
    check_inputs = workload.inputs
    if spec.mode == "generate":
        check_inputs = workload.generate_inputs
    needs_check = spec.mode != "train" and not (variant.baseline and spec.precision == "fp32")
    if needs_check:
        with torch.no_grad():
            net = workload.generation_model if spec.mode == "generate" else workload.model
            reference = net.eval()(*check_inputs)

    context = Context(precision=spec.precision, channels_last=spec.channels_last,
                      threads=spec.threads, workdir=workdir)
    start = time.perf_counter()
    prepared = variant.prepare(spec.mode, workload, context)
    accuracy_out = None
    if reference is not None:
        if prepared.forward is None:
            raise RuntimeError(f"variant {variant.name} gives no forward for the accuracy check")
        output = prepared.forward(*check_inputs)
        if spec.precision == "int8":
            accuracy_out = {"metric": "sqnr", "value": accuracy.sqnr_db(output, reference)}
        else:
            accuracy_out = {"metric": "max_rel_error",
                            "value": accuracy.max_relative_error(output, reference)}
    else:
        prepared.run()
    setup_s = time.perf_counter() - start

    def generate_step() -> dict[str, float]:
        prefill_s, decode_s, tokens = prepared.run()
        return {"prefill_ms": prefill_s * 1e3,
                "decode_ms_per_token": decode_s * 1e3 / max(1, tokens - 1),
                "tokens": tokens * workload.batch_size}

    timing = time_iterations(generate_step if spec.mode == "generate" else prepared.run, spec.policy,
                             end_turn=end_turn)
    return {
        "status": "ok",
        "error": None,
        "latencies_ms": timing.latencies_ms,
        "cpu_ms": timing.cpu_ms,
        "extras": timing.extras,
        "timed_blocks": timing.blocks,
        "samples_per_batch": workload.samples_per_batch,
        "setup_s": setup_s,
        "warmup": {"iterations": timing.warmup_iters, "seconds": timing.warmup_s,
                   "settled": timing.warmup_settled, "first_iteration_s": timing.first_iter_s},
        "accuracy": accuracy_out,
        "config": _jsonable(prepared.config),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run one benchmark (internal)")
    parser.add_argument("--spec", required=True, help="JSON file holding a BenchmarkSpec")
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    spec_data = json.loads(Path(args.spec).read_text())
    cores = spec_data.get("cores") or []
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    os.environ.setdefault("OMP_NUM_THREADS", str(spec_data["threads"]))
    out_dir = Path(args.out_dir)
    workdir = out_dir / f"work-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        outcome = run_spec(spec_data, str(workdir))
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a recorded error
        traceback.print_exc()
        outcome = {"status": "failed", "error": _describe(exc)}
    try:
        outcome["peak_rss_mb"] = _peak_rss_mb()
        outcome["runtime"] = _runtime_facts()
    except Exception as exc:  # noqa: BLE001
        outcome.setdefault("runtime", {"error": _describe(exc)})
    target = out_dir / f"result-{os.getpid()}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(outcome, default=str))
    os.replace(tmp, target)
    return 0


if __name__ == "__main__":
    if __package__ in (None, ""):
        # Started as a script path (by a launcher): import the package from the repository,
        # not this module's siblings as top-level modules.
        sys.path[0] = str(Path(__file__).resolve().parent.parent)
    sys.exit(main())
