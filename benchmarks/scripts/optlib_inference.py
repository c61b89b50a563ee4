"""optlib inference speed against every stock CPU path, free and with the other cores busy.

For each model it builds every variant a user could pick (eager, torch.compile default and
with freezing, TorchScript freeze + optimize_for_inference, ONNX Runtime, OpenVINO) plus
optlib fp32 and optlib int8, then times them all in one run, interleaved in short blocks so
that a noisy neighbour slows every variant alike. It prints, per variant, the median latency,
the ratio to eager, the GFLOP/s achieved (conv/matmul FLOPs counted on the eager model)
against this machine's measured fp32 matmul roof, and the accuracy against eager fp32.
The "loaded" pass repeats the timing while one CPU-bound process per other core spins.

    python benchmarks/scripts/optlib_inference.py [--models resnet50,dlrm,bert,gcn,sage]
        [--threads 2] [--seconds 4] [--no-loaded] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import optlib  # noqa: E402
from optlib import quantization  # noqa: E402
from optlib.passes import backends  # noqa: E402


# ---------------------------------------------------------------- models (random init, seeded)

class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * 4
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.down is None else self.down(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + identity)


class ResNet50(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for width, count, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for i in range(count):
                blocks.append(Bottleneck(cin, width, stride if i == 0 else 1))
                cin = width * 4
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.layers(x), 1), 1))


class DLRM(nn.Module):
    def __init__(self, tables: int = 26, rows: int = 20000, dim: int = 128) -> None:
        super().__init__()
        self.bottom = nn.Sequential(nn.Linear(13, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                                    nn.Linear(256, dim), nn.ReLU())
        self.embeddings = nn.ModuleList(nn.EmbeddingBag(rows, dim, mode="sum") for _ in range(tables))
        n = tables + 1
        self.top = nn.Sequential(nn.Linear(dim + n * (n - 1) // 2, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                                 nn.Linear(1024, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 1))
        rows_, cols_ = torch.tril_indices(n, n, offset=-1)
        self.register_buffer("pairs", rows_ * n + cols_, persistent=False)

    def forward(self, dense, indices, offsets):
        x = self.bottom(dense)
        feats = torch.stack([x] + [bag(indices[i], offsets[i]) for i, bag in enumerate(self.embeddings)], dim=1)
        inter = torch.bmm(feats, feats.transpose(1, 2)).flatten(1).index_select(1, self.pairs)
        return torch.sigmoid(self.top(torch.cat([x, inter], dim=1)))


class BertLayer(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv, self.out = nn.Linear(hidden, 3 * hidden), nn.Linear(hidden, hidden)
        self.ln1, self.ln2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.ff1, self.ff2 = nn.Linear(hidden, 4 * hidden), nn.Linear(4 * hidden, hidden)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        b, s, _ = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        attn = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, s, -1)
        x = self.ln1(x + self.drop(self.out(attn)))
        return self.ln2(x + self.drop(self.ff2(F.gelu(self.ff1(x)))))


class Bert(nn.Module):
    def __init__(self, vocab: int = 30522, hidden: int = 768, layers: int = 12, heads: int = 12, seq: int = 128):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, hidden), nn.Embedding(seq, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.Sequential(*(BertLayer(hidden, heads) for _ in range(layers)))
        self.pool = nn.Linear(hidden, hidden)

    def forward(self, ids):
        x = self.norm(self.tok(ids) + self.pos(torch.arange(ids.shape[1])))
        return torch.tanh(self.pool(self.layers(x)[:, 0]))


def _gnn(kind: str):
    from torch_geometric.nn import GCNConv, SAGEConv

    conv = GCNConv if kind == "gcn" else SAGEConv

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.conv2 = conv(128, 64), conv(64, 16)

        def forward(self, x, edge_index):
            return self.conv2(F.relu(self.conv1(x, edge_index)), edge_index)

    return Net()


def _randomize_bn(model: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
    return model


def make_inputs(name: str, seed: int):
    g = torch.Generator().manual_seed(seed)
    if name == "resnet50":
        return (torch.randn(1, 3, 224, 224, generator=g),)
    if name == "dlrm":
        batch = 128
        return (torch.randn(batch, 13, generator=g), torch.randint(0, 20000, (26, batch), generator=g),
                torch.arange(batch).repeat(26, 1))
    if name == "bert":
        return (torch.randint(0, 30522, (1, 128), generator=g),)
    x = torch.randn(50000, 128, generator=g)
    return (x, torch.randint(0, 50000, (2, 500000), generator=torch.Generator().manual_seed(0)))


def make_model(name: str) -> nn.Module:
    torch.manual_seed(0)
    builders = {"resnet50": lambda: _randomize_bn(ResNet50()), "dlrm": DLRM, "bert": Bert,
                "gcn": lambda: _gnn("gcn"), "sage": lambda: _gnn("sage")}
    return builders[name]().eval()


# ---------------------------------------------------------------- variants

def _no_grad(fn: Callable) -> Callable:
    def run(*args):
        with torch.no_grad():
            return fn(*args)
    return run


def _torchscript(model, args):
    with torch.no_grad():
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, args, check_trace=False)))
    return frozen


def _stock_onnxruntime(model, args):
    """ONNX Runtime as a user would run it: dynamo export, default session options."""
    import onnxruntime as ort

    program = torch.onnx.export(model, args, dynamo=True, verbose=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(program.model_proto.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda *a: torch.from_numpy(session.run(None, {n: t.numpy() for n, t in zip(names, a)})[0])


def _optlib_int8(name, model, args):
    prepared = quantization.prepare(model, args)
    with torch.no_grad():
        for seed in range(1, 4):
            prepared(*make_inputs(name, seed))
    return quantization.convert(prepared)


VARIANTS: dict[str, Callable] = {
    "eager": lambda name, m, a: m,
    "compile": lambda name, m, a: torch.compile(m),
    "compile-freezing": lambda name, m, a: torch.compile(m, options={"freezing": True}),
    "torchscript": lambda name, m, a: _torchscript(m, a),
    "onnxruntime": lambda name, m, a: _stock_onnxruntime(m, a),
    "openvino": lambda name, m, a: backends.build_openvino(m, a),
    "optlib": lambda name, m, a: optlib.optimize(m, sample_input=a, tune_seconds=2.0),
    "optlib-int8": _optlib_int8,
}
OPTIONAL = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


def build_variants(name: str, model: nn.Module, args: tuple, reference: torch.Tensor, wanted: list[str]):
    runners, notes = {}, {}
    for variant in wanted:
        if variant in OPTIONAL and not backends.available(OPTIONAL[variant]):
            notes[variant] = f"skipped: {OPTIONAL[variant]} not installed"
            continue
        start = time.perf_counter()
        try:
            built = VARIANTS[variant](name, model, args)
            runner = _no_grad(built)
            out = runner(*args)
        except Exception as exc:  # a failing variant is reported, the others still run
            notes[variant] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
            continue
        build = time.perf_counter() - start
        out = out[0] if isinstance(out, tuple) else out
        if variant == "optlib-int8":
            error = (out.float() - reference).pow(2).mean()
            accuracy = f"SQNR {10 * torch.log10(reference.pow(2).mean() / error).item():.1f} dB"
        else:
            accuracy = f"rel {((out.float() - reference).abs().max() / reference.abs().max()).item():.1e}"
        runners[variant] = runner
        notes[variant] = f"{accuracy}, built in {build:.0f} s"
        if isinstance(built, optlib.OptimizedModule):
            notes[variant] += f", route {built.backend}"
            if built.tune_report is not None:
                print(f"  optlib {built.tune_report.summary()}", flush=True)
        print(f"  built {variant:<17} {notes[variant]}", flush=True)
    return runners, notes


def time_interleaved(runners: dict[str, Callable], args: tuple, seconds: float, block: int = 3) -> dict[str, list[float]]:
    samples = {name: [] for name in runners}
    deadline = time.perf_counter() + seconds * len(runners)
    rounds = 0
    while rounds < 3 or (time.perf_counter() < deadline and rounds < 200):
        for name, run in runners.items():
            run(*args)  # untimed: wakes this runtime's threads after the previous one ran
            for _ in range(block):
                start = time.perf_counter()
                run(*args)
                samples[name].append(time.perf_counter() - start)
        rounds += 1
    return samples


# ---------------------------------------------------------------- machine facts

ROOF_N = 1024
ROOF_VARIANTS = ("(roof, all threads)", "(roof, 1 thread)")


def matmul_roof_runners() -> dict[str, Callable]:
    """Square fp32 sgemms timed among the variants; the fastest calls give the roof.

    On a shared machine a multi-threaded sgemm is itself slowed by a descheduled thread, so
    the roof is the larger of the all-threads figure and the 1-thread figure times the
    thread count (perfect scaling: what the cores can do when they run).
    """
    a, b = torch.randn(ROOF_N, ROOF_N), torch.randn(ROOF_N, ROOF_N)

    def one_thread(*_):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return torch.mm(a, b)
        finally:
            torch.set_num_threads(threads)

    return {ROOF_VARIANTS[0]: lambda *_: torch.mm(a, b), ROOF_VARIANTS[1]: one_thread}


def roof_gflops(samples: dict[str, list[float]], threads: int) -> float:
    flop = 2 * ROOF_N ** 3
    all_threads = flop / min(samples.pop(ROOF_VARIANTS[0])) / 1e9
    one = flop / min(samples.pop(ROOF_VARIANTS[1])) / 1e9
    return max(all_threads, one * threads)


def count_flops(model: nn.Module, args: tuple) -> float:
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
        except Exception:
            env[package] = "not installed"
    for var in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME", "GOMP_SPINCOUNT", "LD_PRELOAD"):
        env[var] = os.environ.get(var, "(unset)")
    return env


class BusyCores:
    """One CPU-bound process per other core, as a noisy neighbour; always stopped on exit."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.procs: list[subprocess.Popen] = []

    def __enter__(self):
        # The loop ends by itself when this script dies, however it dies.
        spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"
        self.procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(self.count)]
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)


# ---------------------------------------------------------------- report

def table(model: str, samples, notes, flops: float, label: str) -> list[dict]:
    rows = []
    roof = roof_gflops(samples, torch.get_num_threads())
    base = statistics.median(samples["eager"]) if "eager" in samples else None
    print(f"\n{model} ({label}): {flops / 1e9:.2f} GFLOP (conv/matmul) per call; matmul roof in this run "
          f"{roof:.0f} GFLOP/s (fastest {ROOF_N}^3 sgemm timed among the variants, see matmul_roof_runners)")
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
                     "p90_ms": p90 * 1e3, "vs_eager": ratio, "gflops": gflops, "roof_fraction": gflops / roof,
                     "samples": len(s), "note": note})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,dlrm,bert,gcn,sage")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0, help="timing budget per variant and scenario")
    parser.add_argument("--no-loaded", action="store_true", help="skip the run with the other cores busy")
    parser.add_argument("--json", type=Path, help="also write every row as JSON")
    opts = parser.parse_args(argv)
    models = opts.models.split(",")
    wanted = opts.variants.split(",")
    unknown = sorted(set(wanted) - set(VARIANTS)) + sorted(set(models) - {"resnet50", "dlrm", "bert", "gcn", "sage"})
    if unknown:
        parser.error(f"unknown models/variants {unknown}; models: resnet50, dlrm, bert, gcn, sage; "
                     f"variants: {', '.join(VARIANTS)}")
    torch.set_num_threads(opts.threads)
    env = environment(opts.threads)
    print("environment:")
    for key, value in env.items():
        print(f"  {key:<16} {value}")
    if hasattr(os, "getloadavg"):
        print(f"  {'load average':<16} {' '.join(f'{v:.1f}' for v in os.getloadavg())} (before the run)")
    rows: list[dict] = []
    for name in models:
        print(f"\n== {name}: building variants", flush=True)
        model, args = make_model(name), make_inputs(name, 0)
        with torch.no_grad():
            reference = model(*args).float()
        flops = count_flops(model, args)
        runners, notes = build_variants(name, model, args, reference, wanted)
        runners.update(matmul_roof_runners())
        rows += table(name, time_interleaved(runners, args, opts.seconds), notes, flops, "no added load")
        if not opts.no_loaded:
            busy = max((len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2) - 1, 1)
            with BusyCores(busy):
                samples = time_interleaved(runners, args, opts.seconds / 2)
            rows += table(name, samples, notes, flops, f"loaded: {busy} CPU-bound process(es) added")
        del runners, model
        gc.collect()
    if opts.json:
        opts.json.write_text(json.dumps({"environment": env, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
