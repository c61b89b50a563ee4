"""optlib inference speed against every stock CPU path, free and with the other cores busy.

Models and variants come from the benchmark suite's registry (``benchmarks.models``,
``benchmarks.variants``), so this report measures the same networks, inputs and runtime
settings as the suite's series. Two stock paths the registry does not carry are defined here:
``compile-freezing`` (torch.compile with ``freezing=True``) and ``torchscript`` (trace, freeze,
``optimize_for_inference``). Two script-local models give the inference targets' GNN shape
(``gcn-50k``, ``graphsage-50k``: 50,000 nodes, 500,000 edges, 128 features), beside the
suite's Cora-shaped ``gcn`` and ``graphsage``.

For each model it builds every variant a user could pick plus optlib fp32 and optlib int8,
then times them all in one run, interleaved in short blocks so that a noisy neighbour slows
every variant alike. Each variant lives in its own process, as it would in a user's program:
runtimes held in one process slow each other (ONNX Runtime's pool spins after every run and
doubled eager's latency beside it; optlib's own tuning, run beside such a pool, timed eager
70x too slow and chose wrongly). The processes take turns: the one being built or timed
runs, every other one is stopped (SIGSTOP), so no idle pool can spin on the cores.

It prints, per variant, the median and p90 latency, the ratio to eager, the GFLOP/s achieved
(conv/matmul FLOPs counted on the eager model) against this machine's fp32 matmul roof
measured among the variants, and the accuracy against eager fp32 (largest relative error;
SQNR for int8). The "loaded" pass repeats the timing while one CPU-bound
process per other core spins. A summary table closes the run.

    python benchmarks/scripts/optlib_inference.py
        [--models resnet50,dlrm,bert_base,gcn,graphsage,gcn-50k,graphsage-50k]
        [--variants eager,compile,...]
        [--threads 2] [--seconds 4] [--no-loaded] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import hashlib
import importlib.util
import io
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import optlib  # noqa: E402
from optlib.passes.autotune import with_threads  # noqa: E402
from benchmarks.accuracy import max_relative_error, sqnr_db  # noqa: E402
from benchmarks.models import BuildOptions, ModelSpec, Workload, all_models, get_model  # noqa: E402
from benchmarks.variants import Context, Prepared, all_variants  # noqa: E402
from benchmarks.variants._common import eval_prepared  # noqa: E402

DEFAULT_MODELS = ("resnet50", "dlrm", "bert_base", "gcn", "graphsage", "gcn-50k", "graphsage-50k")
# Latency batches: one image, one sequence; a GNN batch is that many disjoint Cora-sized
# copies in one graph (18 copies: 48,744 nodes, 190,008 edges), large enough that message
# passing, not per-call overhead, dominates. Other models use the registry's eval batch.
BATCH = {"resnet50": 1, "bert_base": 1, "gcn": 18, "graphsage": 18}
OPTLIB_VARIANTS = ("optlib", "optlib-int8")
# The message-passing-bound GNN shape of the inference issue (PyG's GCN and GraphSAGE, 2
# layers of 64, on 50,000 nodes, 500,000 edges and 128 dense features): where the suite's
# Cora-shaped graph spends most of its time in the dense 1,433-feature input projection, this
# one spends it in the neighbour aggregation that optlib runs as a CSR sparse matmul.
LARGE_GRAPH = {"nodes": 50_000, "edges": 500_000, "features": 128, "classes": 16}
# Workers start with "spawn": a forked child would share the parent's torch state (thread
# pools, allocator), which is what the processes are there to keep apart.
_SPAWN = multiprocessing.get_context("spawn")
ROOF_WORKER = "(roof)"
QUIET_LOGGERS = ("onnx_ir", "onnxscript", "torch.onnx")
RUN_TIMEOUT_S = 600.0  # one block: a hung runtime ends the run instead of stalling it
ISOLATION = ("each variant runs in its own process and is stopped (SIGSTOP) while the "
             "others build or run")


# ---------------------------------------------------------------- script-local models

def _build_large_graph(kind: str) -> Callable[[BuildOptions], Workload]:
    def build(options: BuildOptions) -> Workload:
        from benchmarks.models._common import classification_loss, generator
        from benchmarks.models._nets.graph import GraphShape, build_gnn, synthetic_graph

        torch.manual_seed(options.seed)
        shape = GraphShape(nodes=LARGE_GRAPH["nodes"], edges=LARGE_GRAPH["edges"],
                           features=LARGE_GRAPH["features"], classes=LARGE_GRAPH["classes"])

        def graph(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            _, edge_index, labels = synthetic_graph(shape, generator(seed))
            x = torch.randn(shape.nodes, shape.features, generator=generator(seed + 1))
            return x, edge_index, labels

        x, edge_index, labels = graph(options.seed)
        return Workload(model=build_gnn(kind, shape.features, 64, 2, shape.classes),
                        inputs=(x, edge_index), batch_size=1, samples_per_batch=shape.nodes,
                        loss=classification_loss(labels),
                        calibration=lambda i: graph(options.seed + 100 + i)[:2])
    return build


LOCAL_MODELS = {
    f"{kind}-50k": ModelSpec(name=f"{kind}-50k", family="gnn",
                             description=f"torch_geometric {kind}, 50k nodes, 500k edges, 128 features",
                             build=_build_large_graph(kind), eval_batch=1, train_batch=1,
                             offline_batch=1, requires=("torch_geometric",))
    for kind in ("gcn", "graphsage")
}


def model_spec(name: str) -> ModelSpec:
    return LOCAL_MODELS[name] if name in LOCAL_MODELS else get_model(name)


def known_models() -> list[str]:
    return [*all_models(), *LOCAL_MODELS]


# ---------------------------------------------------------------- script-local variants

def _prepare_compile_freezing(workload: Workload, context: Context) -> Prepared:
    """torch.compile with inductor's freezing: weights become constants, so conv/linear
    weights are prepacked once; the stock setting users are told to try for inference."""
    options = {"freezing": True}
    return eval_prepared(torch.compile(workload.model.eval(), options=options), workload.inputs,
                         context.precision, {"backend": "inductor", "options": options})


def _prepare_torchscript(workload: Workload, context: Context) -> Prepared:
    """TorchScript's inference path: trace, freeze, optimize_for_inference (conv-BN folding,
    oneDNN fusion where it applies)."""
    with torch.no_grad():
        traced = torch.jit.trace(workload.model.eval(), workload.inputs, check_trace=False)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    return eval_prepared(frozen, workload.inputs, context.precision,
                         {"trace": True, "freeze": True, "optimize_for_inference": True})


LOCAL_VARIANTS: dict[str, Callable[[Workload, Context], Prepared]] = {
    "compile-freezing": _prepare_compile_freezing,
    "torchscript": _prepare_torchscript,
}
DEFAULT_VARIANTS = ("eager", "compile", "compile-freezing", "torchscript", "aot-inductor",
                    "onnxruntime", "openvino", "optlib", "optlib-int8")


def known_variants() -> list[str]:
    return list(DEFAULT_VARIANTS) + [v for v in all_variants() if v not in DEFAULT_VARIANTS]


def _precision(variant: str) -> str:
    if variant in LOCAL_VARIANTS:
        return "fp32"
    return "fp32" if "fp32" in all_variants()[variant].precisions else "int8"


def _reason(exc: BaseException) -> str:
    """One line saying why: OpenVINO's conversion errors open with an assertion location and
    end with the list of ops that failed, which is the part worth printing."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    summary = [line for line in lines if "Conversion is failed for" in line]
    useful = summary or [line for line in lines if not line.startswith("Check '")] or lines
    return f"{type(exc).__name__}: {useful[0][:200]}" if useful else type(exc).__name__


# ---------------------------------------------------------------- building (in a worker)

@dataclasses.dataclass
class Built:
    """One variant's runnable and what its row reports besides timings."""

    forward: Callable[..., Any]
    note: str
    facts: dict[str, Any]


def build_variant(variant: str, workload: Workload, reference: Any, threads: int,
                  workdir: str) -> Built:
    """Prepares one variant on the worker's own model, runs it once, and checks its output
    against eager fp32."""
    precision = _precision(variant)
    os.makedirs(os.path.join(workdir, variant), exist_ok=True)
    context = Context(precision=precision, channels_last=False, threads=threads,
                      workdir=os.path.join(workdir, variant))
    prepare = LOCAL_VARIANTS.get(variant) or all_variants()[variant].prepare_eval
    start = time.perf_counter()
    # Exporters print progress and deprecation warnings; the table says what matters.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare(workload, context)
        forward = prepared.forward or (lambda *_: prepared.run())
        output = forward(*workload.inputs)
    build_s = time.perf_counter() - start
    facts: dict[str, Any] = {"precision": precision, "build_s": build_s}
    if precision == "int8":
        facts["sqnr_db"] = sqnr_db(output, reference)
        accuracy = f"SQNR {facts['sqnr_db']:.1f} dB"
    else:
        facts["max_rel_error"] = max_relative_error(output, reference)
        accuracy = f"rel {facts['max_rel_error']:.1e}"
    note = f"{accuracy}, built in {build_s:.0f} s"
    config = prepared.config or {}
    report = config.get("tune_report")
    # The tuned choice names the thread count too (``inductor@1t``); the backend alone does not.
    route = report.get("chosen") if isinstance(report, dict) else None
    route = route or config.get("chosen_backend")
    if route:
        facts["route"] = route
        note += f", route {route}"
    if config.get("conversion") == "onnx":
        facts["route"] = "onnx"
        note += ", converted via ONNX"
    if isinstance(report, dict):
        candidates = ", ".join(
            f"{c['name']}={c['median_ms']:.2f} ms" if c.get("median_ms") is not None
            else f"{c['name']}={c.get('status')}" for c in report.get("candidates", ()))
        cached = " (measured by an earlier run)" if report.get("cached") else ""
        print(f"  {variant} chose {report.get('chosen')}{cached}: {candidates}", flush=True)
    return Built(forward=forward, note=note, facts=facts)


def checksum(*values: Any) -> str:
    """SHA-256 of every tensor's bytes (weights, buffers, inputs): equal in two workers only
    if the seeded build gave both the same model and inputs, which a comparison of their
    timings assumes."""
    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                digest.update(str(key).encode())
                feed(value[key])
        elif isinstance(value, (list, tuple)):
            for item in value:
                feed(item)

    for value in values:
        feed(value)
    return digest.hexdigest()[:16]


def _build_model_variant(model: str, variant: str, threads: int, workdir: str,
                         info: dict[str, Any]) -> tuple[dict[str, Callable[..., Any]], tuple]:
    """The worker's build: the seeded model, its eager fp32 reference (on a copy, so that a
    variant changing the module in place cannot change it), FLOPs if asked, then the
    variant. Fills ``info`` as it goes, so that a failed build still reports what it got."""
    spec = model_spec(model)
    workload = spec.build(BuildOptions(batch_size=BATCH.get(model, spec.eval_batch), seed=0))
    workload.model.eval()
    info["checksum"] = checksum(workload.model.state_dict(), workload.inputs)
    info["inputs"] = describe_inputs(model, workload)
    with torch.no_grad():
        reference = copy.deepcopy(workload.model)(*workload.inputs)
    if info.pop("count_flops"):
        info["flops"] = count_flops(workload.model, workload.inputs)
    built = build_variant(variant, workload, reference, threads, workdir)
    info["note"], info["facts"] = built.note, built.facts
    return {variant: built.forward}, workload.inputs


def _die_with_parent(parent: int) -> None:
    """The worker spends most of its life stopped; SIGKILL on the parent's death reaches a
    stopped process, where a closed pipe would not be noticed until it is continued."""
    with contextlib.suppress(Exception):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def worker_main(conn: Connection, parent: int, model: str, variant: str, threads: int,
                workdir: str, count: bool) -> None:
    """One variant's process: builds it, reports, then answers ``("run", entry, block)``
    with one untimed call and ``block`` timed calls until told to stop or the parent goes."""
    _die_with_parent(parent)
    torch.set_num_threads(threads)
    # Every worker that exports to ONNX would repeat the exporters' per-initializer notes.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    info: dict[str, Any] = {"count_flops": count}
    args: tuple = ()
    try:
        if variant == ROOF_WORKER:
            runners = matmul_roof_runners()
            info["roof_runners"] = list(runners)
        else:
            runners, args = _build_model_variant(model, variant, threads, workdir, info)
    except Exception as exc:  # noqa: BLE001 - a failing variant is reported, the others run
        info["error"] = f"failed: {_reason(exc)}"
        conn.send(info)
        return
    conn.send(info)
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent is gone
            return
        if message[0] != "run":
            return
        _, entry, block = message
        run = runners[entry]
        try:
            run(*args)
            times = []
            for _ in range(block):
                start = time.perf_counter()
                run(*args)
                times.append(time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001 - reported as the variant's failure
            conn.send(("error", f"failed while timed: {_reason(exc)}"))
            continue
        conn.send(("ok", times))


# ---------------------------------------------------------------- workers (in the parent)

class WorkerDied(RuntimeError):
    pass


class Worker:
    """The parent's handle on one variant's process: continued only while it builds or runs
    a block, stopped (SIGSTOP) otherwise, so that its runtime's threads (ONNX Runtime's
    spinning pool, OpenVINO's, OpenMP's) cannot take CPU from the variant being timed."""

    def __init__(self, model: str, variant: str, threads: int, workdir: str, count: bool) -> None:
        self.variant = variant
        self.entries: tuple[str, ...] = (variant,)  # what it can time: the roof worker has several
        self.conn, child = _SPAWN.Pipe()
        self.proc = _SPAWN.Process(target=worker_main, daemon=True, name=f"{model}:{variant}",
                                   args=(child, os.getpid(), model, variant, threads, workdir, count))
        self.proc.start()
        child.close()

    def receive(self, timeout: float | None = None) -> Any:
        ready = multiprocessing.connection.wait([self.conn, self.proc.sentinel], timeout)
        if self.conn in ready:
            with contextlib.suppress(EOFError):
                return self.conn.recv()
        if not ready:
            raise WorkerDied(f"no answer in {timeout:.0f} s")
        self.proc.join(1)
        raise WorkerDied(f"its process exited with code {self.proc.exitcode}")

    def run_block(self, entry: str, block: int) -> list[float]:
        self.resume()
        self.conn.send(("run", entry, block))
        status, value = self.receive(timeout=RUN_TIMEOUT_S)
        self.pause()
        if status != "ok":
            raise WorkerDied(value)
        return value

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def pause(self) -> None:
        """SIGSTOP, then wait until every thread of the worker has stopped (the kernel
        reports a group stop once it is complete), so that none still runs when the next
        variant starts."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        if hasattr(os, "waitid"):
            # WNOWAIT leaves the status for multiprocessing to reap if the worker exited.
            state = os.waitid(os.P_PID, self.proc.pid, os.WSTOPPED | os.WEXITED | os.WNOWAIT)
            if state is not None and state.si_code != os.CLD_STOPPED:
                self.proc.join(1)
                raise WorkerDied(f"its process exited with code {self.proc.exitcode}")

    def close(self) -> None:
        """Ends the worker however the parent is leaving: continued first, since a stopped
        process acts on SIGTERM only once continued."""
        if self.proc.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
            with contextlib.suppress(OSError):
                self.conn.send(("stop",))
            self.proc.join(5)
            if self.proc.exitcode is None:
                self.proc.terminate()
                self.proc.join(5)
            if self.proc.exitcode is None:
                self.proc.kill()
                self.proc.join(5)
        self.conn.close()


def start_workers(model: str, wanted: list[str], threads: int, workdir: str,
                  stack: contextlib.ExitStack) -> tuple[dict[str, Worker], dict[str, str],
                                                        dict[str, dict], dict[str, Any]]:
    """Builds one variant per worker, one worker at a time (the others stay stopped), then
    a worker for the matmul roof."""
    workers: dict[str, Worker] = {}
    notes: dict[str, str] = {}
    facts: dict[str, dict] = {}
    model_facts: dict[str, Any] = {}
    for variant in [*wanted, ROOF_WORKER]:
        if variant in all_variants() and variant not in LOCAL_VARIANTS:
            missing = all_variants()[variant].missing_packages()
            if missing:
                notes[variant] = f"skipped: {', '.join(missing)} not installed"
                print(f"  {variant:<17} {notes[variant]}", flush=True)
                continue
        worker = Worker(model, variant, threads, workdir, count="flops" not in model_facts)
        stack.callback(worker.close)
        try:
            info = worker.receive()
            if "error" not in info:
                worker.pause()
        except WorkerDied as exc:
            info = {"error": f"failed: worker died while building ({exc})"}
        if variant == ROOF_WORKER:
            if "error" in info:
                raise RuntimeError(f"the matmul roof worker {info['error']}")
            worker.entries = tuple(info["roof_runners"])
            workers[variant] = worker
            continue
        if "inputs" in info and "inputs" not in model_facts:
            model_facts["inputs"] = info["inputs"]
            print(f"  inputs: {info['inputs']}", flush=True)
        if "flops" in info:
            model_facts["flops"] = info["flops"]
        if "checksum" in info:
            first = model_facts.setdefault("checksum", info["checksum"])
            if info["checksum"] != first:
                # Not fatal: the row is still timed, but its comparison is suspect.
                info["note"] = info.get("note", "") + ", MODEL DIFFERS (seeded build not deterministic)"
                print(f"  warning: {variant} built a different model or input (checksum "
                      f"{info['checksum']} vs {first})", flush=True)
        if "error" in info:
            notes[variant] = info["error"]
            print(f"  {variant:<17} {notes[variant]}", flush=True)
            worker.close()
            continue
        workers[variant], notes[variant], facts[variant] = worker, info["note"], info["facts"]
        print(f"  built {variant:<17} {info['note']}", flush=True)
    return workers, notes, facts, model_facts


# ---------------------------------------------------------------- timing

def time_interleaved(workers: dict[str, Worker], notes: dict[str, str], seconds: float,
                     block: int = 3) -> dict[str, list[float]]:
    """Round-robin over the variants in blocks of ``block`` timed calls, each block after
    one untimed call (it wakes that runtime's threads after its process was continued).
    Only the worker being timed is running; a worker that fails leaves the rotation."""
    entries = [(name, worker) for name, worker in workers.items() if name != ROOF_WORKER]
    entries += [(name, workers[ROOF_WORKER]) for name in workers[ROOF_WORKER].entries]
    samples: dict[str, list[float]] = {name: [] for name, _ in entries}
    deadline = time.perf_counter() + seconds * len(entries)
    rounds = 0
    while rounds < 3 or (time.perf_counter() < deadline and rounds < 200):
        for name, worker in list(entries):
            try:
                samples[name] += worker.run_block(name, block)
            except WorkerDied as exc:
                if name in ROOF_VARIANTS:
                    raise
                notes[name] = f"failed: {exc}"
                print(f"  {name:<17} {notes[name]}", flush=True)
                entries.remove((name, worker))
                del samples[name], workers[name]
                worker.close()
        rounds += 1
    return samples


# ---------------------------------------------------------------- machine facts

ROOF_N = 1024
# Each roof entry and whether it runs at one thread (its figure then scales by the thread count).
ROOF_VARIANTS = {"(roof, all threads)": False, "(roof, 1 thread)": True,
                 "(roof, oneDNN, all threads)": False, "(roof, oneDNN, 1 thread)": True}


def matmul_roof_runners() -> dict[str, Callable]:
    """Square fp32 sgemms timed among the variants; the fastest calls give the roof.

    Two libraries that ship with torch: its default sgemm (``torch.mm``, MKL on x86) and
    oneDNN's (a prepacked linear). Which is faster depends on the CPU: on an AMD EPYC with
    AVX-512, ``torch.mm`` ran 184 GFLOP/s at 2 threads and oneDNN 416, so a roof from
    ``torch.mm`` alone put runtimes built on oneDNN at 170 % of it. On a shared machine a
    multi-threaded sgemm is itself slowed by a descheduled thread, so the roof is the larger
    of the all-threads figure and the 1-thread figure times the thread count (perfect
    scaling: what the cores can do when they run).
    """
    a, b = torch.randn(ROOF_N, ROOF_N), torch.randn(ROOF_N, ROOF_N)

    def sgemm(*_: Any) -> torch.Tensor:
        return torch.mm(a, b)

    runners = {"(roof, all threads)": sgemm, "(roof, 1 thread)": with_threads(sgemm, 1)}
    if torch.backends.mkldnn.is_available():
        packed = torch.ops.mkldnn._reorder_linear_weight(b.t().contiguous(), ROOF_N)

        def onednn(*_: Any) -> torch.Tensor:
            return torch.ops.mkldnn._linear_pointwise(a, packed, None, "none", [], "")

        runners["(roof, oneDNN, all threads)"] = onednn
        runners["(roof, oneDNN, 1 thread)"] = with_threads(onednn, 1)
    return runners


def roof_gflops(samples: dict[str, list[float]], threads: int) -> float:
    """The fastest of the roof sgemms (see `matmul_roof_runners`), in GFLOP/s."""
    flop = 2 * ROOF_N ** 3
    best = 0.0
    for name, one_thread in ROOF_VARIANTS.items():
        if samples.get(name):
            scale = threads if one_thread else 1
            best = max(best, scale * flop / min(samples[name]) / 1e9)
        samples.pop(name, None)
    return best


def count_flops(model: torch.nn.Module, args: tuple) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*args)
    return float(counter.get_total_flops())


def environment(threads: int) -> dict[str, str]:
    info = optlib.cpu.cpu_info()
    env = {
        "cpu": info.model_name,
        "isa": " ".join(sorted(info.isa)),
        "cores": f"{info.physical_cores} physical / {info.logical_cores} logical, {info.numa_nodes} NUMA node(s)",
        "affinity": str(sorted(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else "n/a",
        "threads": str(threads),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "optlib": optlib.__version__,
    }
    for package in ("onnxruntime", "openvino", "torch_geometric"):
        try:
            env[package] = __import__(package).__version__
        except Exception:  # noqa: BLE001 - missing or broken: either way not usable
            env[package] = "not installed"
    for var in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME", "GOMP_SPINCOUNT", "LD_PRELOAD"):
        env[var] = os.environ.get(var, "(unset)")
    return env


def describe_inputs(name: str, workload: Workload) -> str:
    if model_spec(name).family == "gnn":
        x, edge_index = workload.inputs[0], workload.inputs[1]
        return (f"batch {workload.batch_size} graph copies: {x.shape[0]:,} nodes, "
                f"{edge_index.shape[1]:,} edges, {x.shape[1]} features")
    shapes = ", ".join("x".join(str(d) for d in t.shape) for t in workload.inputs
                       if isinstance(t, torch.Tensor))
    return f"batch {workload.batch_size}, inputs {shapes}"


class BusyCores:
    """One CPU-bound process per other core, as a noisy neighbour; always stopped on exit."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> BusyCores:
        # The loop ends by itself when this script dies, however it dies.
        spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"
        self.procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(self.count)]
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)


# ---------------------------------------------------------------- report

def table(model: str, samples: dict[str, list[float]], notes: dict[str, str],
          facts: dict[str, dict], flops: float, threads: int, label: str) -> list[dict]:
    rows = []
    roof = roof_gflops(samples, threads)
    base = statistics.median(samples["eager"]) if "eager" in samples else None
    print(f"\n{model} ({label}): {flops / 1e9:.2f} GFLOP (conv/matmul) per call; matmul roof in this run "
          f"{roof:.0f} GFLOP/s (fastest {ROOF_N}^3 sgemm of torch.mm and oneDNN, timed among the variants)")
    print(f"  ({ISOLATION})")
    print(f"  {'variant':<17} {'median ms':>10} {'p90 ms':>9} {'vs eager':>9} {'GFLOP/s':>8} {'% roof':>7}  notes")
    for variant, note in notes.items():
        if variant not in samples:
            print(f"  {variant:<17} {'-':>10} {'-':>9} {'-':>9} {'-':>8} {'-':>7}  {note}")
            rows.append({"model": model, "scenario": label, "variant": variant, "note": note})
            continue
        s = sorted(samples[variant])
        median, p90 = statistics.median(s), s[int(0.9 * (len(s) - 1))]
        ratio = base / median if base else float("nan")
        gflops = flops / median / 1e9
        print(f"  {variant:<17} {median * 1e3:>10.2f} {p90 * 1e3:>9.2f} {ratio:>8.2f}x {gflops:>8.1f} "
              f"{100 * gflops / roof:>6.0f}%  {note}")
        rows.append({"model": model, "scenario": label, "variant": variant, "median_ms": median * 1e3,
                     "p90_ms": p90 * 1e3, "vs_eager": ratio, "gflops": gflops, "roof_gflops": roof,
                     "roof_fraction": gflops / roof, "samples": len(s), "note": note,
                     **facts.get(variant, {})})
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Per model and scenario: eager, the fastest stock path, optlib fp32 and int8."""
    out = []
    keys = list(dict.fromkeys((r["model"], r["scenario"]) for r in rows))
    for model, scenario in keys:
        timed = {r["variant"]: r for r in rows
                 if r["model"] == model and r["scenario"] == scenario and "median_ms" in r}
        eager = timed.get("eager")
        stock = {v: r for v, r in timed.items() if v not in OPTLIB_VARIANTS}
        best = min(stock.values(), key=lambda r: r["median_ms"]) if stock else None
        fp32, int8 = timed.get("optlib"), timed.get("optlib-int8")

        def ratio(num: dict | None, den: dict | None) -> float | None:
            return num["median_ms"] / den["median_ms"] if num and den else None

        out.append({
            "model": model, "scenario": scenario,
            "eager_ms": eager["median_ms"] if eager else None,
            "best_stock": best["variant"] if best else None,
            "best_stock_vs_eager": ratio(eager, best),
            "optlib_vs_eager": ratio(eager, fp32),
            "optlib_vs_best_stock": ratio(best, fp32),
            "optlib_route": fp32.get("route") if fp32 else None,
            "int8_vs_eager": ratio(eager, int8),
            "int8_sqnr_db": int8.get("sqnr_db") if int8 else None,
        })
    return out


def print_summary(summary: list[dict]) -> None:
    def x(value: float | None) -> str:
        return f"{value:.2f}x" if value is not None else "-"

    print("\nsummary (speed-ups: eager median / variant median; optlib/best = best stock median / "
          "optlib median, > 1 means optlib is faster)")
    print(f"  {'model':<14} {'scenario':<10} {'eager ms':>9}  {'best stock':<24} {'optlib':>7} "
          f"{'optlib/best':>11}  {'int8':>6} {'SQNR dB':>8}  optlib route")
    for s in summary:
        scenario = "free" if s["scenario"] == "no added load" else "loaded"
        eager = f"{s['eager_ms']:.2f}" if s["eager_ms"] is not None else "-"
        best = f"{s['best_stock']} ({x(s['best_stock_vs_eager'])})" if s["best_stock"] else "-"
        sqnr = f"{s['int8_sqnr_db']:.1f}" if s["int8_sqnr_db"] is not None else "-"
        print(f"  {s['model']:<14} {scenario:<10} {eager:>9}  {best:<24} {x(s['optlib_vs_eager']):>7} "
              f"{x(s['optlib_vs_best_stock']):>11}  {x(s['int8_vs_eager']):>6} {sqnr:>8}  "
              f"{s['optlib_route'] or '-'}")


# ---------------------------------------------------------------- main

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0, help="timing budget per variant and scenario")
    parser.add_argument("--no-loaded", action="store_true", help="skip the run with the other cores busy")
    parser.add_argument("--json", type=Path, help="also write every row as JSON")
    opts = parser.parse_args(argv)
    opts.models = [m for m in opts.models.split(",") if m]
    opts.variants = [v for v in opts.variants.split(",") if v]
    unknown_models = [m for m in opts.models if m not in known_models()]
    if unknown_models:
        parser.error(f"unknown models {unknown_models}; known: {', '.join(known_models())}")
    unknown_variants = [v for v in opts.variants if v not in known_variants()]
    if unknown_variants:
        parser.error(f"unknown variants {unknown_variants}; known: {', '.join(known_variants())}")
    return opts


def run_model(name: str, opts: argparse.Namespace) -> tuple[list[dict], dict[str, Any]]:
    """Builds and times one model's variants, each in its own worker process; the parent
    holds no model, only the workers' reports and timings."""
    spec = model_spec(name)
    missing = [p for p in spec.requires if importlib.util.find_spec(p) is None]
    if missing:
        print(f"\n== {name}: skipped: {', '.join(missing)} not installed", flush=True)
        return [], {"skipped": f"{', '.join(missing)} not installed"}
    batch = BATCH.get(name, spec.eval_batch)
    print(f"\n== {name}: batch {batch}; building variants ({ISOLATION})", flush=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix=f"optlib-inference-{name}-") as workdir, \
            contextlib.ExitStack() as workers_alive:
        workers, notes, variant_facts, facts = start_workers(name, opts.variants, opts.threads,
                                                             workdir, workers_alive)
        flops = facts.get("flops", float("nan"))
        samples = time_interleaved(workers, notes, opts.seconds)
        rows += table(name, samples, notes, variant_facts, flops, opts.threads, "no added load")
        if not opts.no_loaded:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
            busy = max(cores - 1, 1)
            with BusyCores(busy):
                samples = time_interleaved(workers, notes, opts.seconds / 2)
            rows += table(name, samples, notes, variant_facts, flops, opts.threads,
                          f"loaded: {busy} CPU-bound process(es) added")
    facts["batch"] = batch
    for row in rows:
        row["batch"] = batch
    return rows, facts


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    # SystemExit unwinds the ``finally`` blocks that end the workers.
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    env = environment(opts.threads)
    env["isolation"] = ISOLATION
    print("environment:")
    for key, value in env.items():
        print(f"  {key:<16} {value}")
    if hasattr(os, "getloadavg"):
        print(f"  {'load average':<16} {' '.join(f'{v:.2f}' for v in os.getloadavg())} (before the run)")
    rows: list[dict] = []
    models: dict[str, Any] = {}
    for name in opts.models:
        model_rows, models[name] = run_model(name, opts)
        rows += model_rows
    summary = summarize(rows)
    print_summary(summary)
    if hasattr(os, "getloadavg"):
        print(f"\nload average {' '.join(f'{v:.2f}' for v in os.getloadavg())} (after the run)")
    if opts.json:
        opts.json.write_text(json.dumps({"environment": env, "models": models, "rows": rows,
                                         "summary": summary}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
