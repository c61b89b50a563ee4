"""optlib training speed: optimizer steps and split-bf16 master weights.

    python benchmarks/scripts/optlib_training.py [--repeats 15] [--layers 2] [--part all]

Part ``step``: ``optimizer.step()`` time on a >= 25 M parameter model for SGD, Adagrad, Adam,
AdamW and LAMB, each as the for-loop, foreach, stock fused (where PyTorch has it) and optlib
(``optlib.training.prepare_training``). The variants of one optimizer are timed interleaved,
in a shuffled order each round, over identical parameters and gradients, so that the noise of
a shared machine hits them alike; medians and ratios come from one run.

Part ``bf16``: a bf16 training step (autocast forward, backward, AdamW step) with an fp32
model, a bf16 model with an fp32 master copy (6 bytes per parameter) and optlib's split
master weights (4 bytes): bytes per parameter of weights + master copy and of weights +
master + optimizer state, counted from the tensors; each variant's peak RSS in its own
process; and step time medians, interleaved.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from optlib.cpu import cpu_info
from optlib.optim import Lamb
from optlib.training import prepare_training

THREADS = 2


class Block(nn.Module):
    """A pre-norm transformer block built from nn.Linear (what split master weights cover)."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ff1, self.ff2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, s, 3, self.heads, d // self.heads).unbind(2)
        att = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        x = x + self.out(att.transpose(1, 2).reshape(b, s, d))
        return x + self.ff2(F.gelu(self.ff1(self.norm2(x))))


class Encoder(nn.Module):
    def __init__(self, vocab: int = 8192, d: int = 1024, layers: int = 2, heads: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.Sequential(*[Block(d, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(d)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.norm(self.blocks(self.embed(tokens)))


def environment() -> str:
    info = cpu_info()
    return (f"CPU: {info.model_name} ({info.arch}), {info.physical_cores} cores / "
            f"{info.logical_cores} threads; ISA: {', '.join(sorted(info.isa))}\n"
            f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
            f"python {platform.python_version()}")


OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict]] = {
    "SGD": (torch.optim.SGD, dict(lr=0.01, momentum=0.9, weight_decay=1e-4)),
    "Adagrad": (torch.optim.Adagrad, dict(lr=0.01, weight_decay=1e-4)),
    "Adam": (torch.optim.Adam, dict(lr=1e-3, weight_decay=1e-4)),
    "AdamW": (torch.optim.AdamW, dict(lr=1e-3, weight_decay=0.01)),
    "LAMB": (Lamb, dict(lr=1e-3, weight_decay=0.01)),
}


def step_variants(name: str, params_of: Callable[[], list[nn.Parameter]]):
    cls, kwargs = OPTIMIZERS[name]
    variants = {
        "for-loop": lambda: cls(params_of(), foreach=False, **kwargs),
        "foreach": lambda: cls(params_of(), foreach=True, **kwargs),
    }
    if cls is not Lamb:
        variants["stock fused"] = lambda: cls(params_of(), fused=True, **kwargs)

    def optlib_variant() -> torch.optim.Optimizer:
        holder = nn.Module()
        holder.params = nn.ParameterList(params_of())
        return prepare_training(holder.train(), cls(holder.parameters(), **kwargs), dtype=None,
                                split_master_weight=False)[1]

    variants["optlib"] = optlib_variant
    return variants


def bench_steps(repeats: int, layers: int, names: list[str]) -> None:
    torch.manual_seed(0)
    template = Encoder(layers=layers)
    shapes = [p.shape for p in template.parameters()]
    count = sum(p.numel() for p in template.parameters())
    grads = [torch.randn(s) * 1e-2 for s in shapes]
    print(f"\n## optimizer.step() on {count / 1e6:.1f} M parameters in {len(shapes)} tensors "
          f"({repeats} timed steps per variant, interleaved)\n")
    print(f"{'optimizer':9} {'variant':12} {'median ms':>10} {'IQR ms':>9} {'vs for-loop':>12} "
          f"{'vs stock fused':>15}")
    for name in names:
        def params_of() -> list[nn.Parameter]:
            params = [nn.Parameter(p.detach().clone()) for p in template.parameters()]
            for p, g in zip(params, grads):
                p.grad = g.clone()
            return params

        optimizers = {v: make() for v, make in step_variants(name, params_of).items()}
        for opt in optimizers.values():  # warm-up: state allocation, LAMB's compilation
            for _ in range(2):
                opt.step()
        times: dict[str, list[float]] = {v: [] for v in optimizers}
        order = list(optimizers)
        for _ in range(repeats):
            random.shuffle(order)
            for variant in order:
                start = time.perf_counter()
                optimizers[variant].step()
                times[variant].append((time.perf_counter() - start) * 1e3)
        med = {v: statistics.median(t) for v, t in times.items()}
        for variant, t in times.items():
            q = statistics.quantiles(t, n=4)
            fused = med.get("stock fused")
            vs_fused = f"{fused / med[variant]:.2f}x" if fused else "n/a"
            print(f"{name:9} {variant:12} {med[variant]:10.1f} {q[2] - q[0]:9.1f} "
                  f"{med['for-loop'] / med[variant]:11.2f}x {vs_fused:>15}")
        del optimizers


# ----------------------------------------------------------------------------- bf16 part

class FP32MasterAdamW:
    """The 6-byte baseline: a bf16 model stepped through an fp32 master copy."""

    def __init__(self, model: nn.Module, **kwargs) -> None:
        self.model_params = [p for p in model.parameters()]
        self.master = [nn.Parameter(p.detach().float().clone()) for p in self.model_params]
        self.inner = torch.optim.AdamW(self.master, fused=True, **kwargs)
        self.state = self.inner.state

    def step(self) -> None:
        for p, m in zip(self.model_params, self.master):
            m.grad = p.grad.float()
        self.inner.step()
        with torch.no_grad():
            for p, m in zip(self.model_params, self.master):
                p.copy_(m)
                m.grad = None

    def zero_grad(self) -> None:
        for p in self.model_params:
            p.grad = None


def make_bf16_variant(variant: str, layers: int):
    torch.manual_seed(0)
    model = Encoder(layers=layers).train()
    kwargs = dict(lr=1e-4, weight_decay=0.01)
    if variant == "fp32 model":
        _, opt = prepare_training(model, torch.optim.AdamW(model.parameters(), **kwargs),
                                  dtype=torch.bfloat16, split_master_weight=False)
    elif variant == "bf16 + fp32 master":
        model = model.to(torch.bfloat16)
        opt = FP32MasterAdamW(model, **kwargs)
    elif variant == "optlib split":
        _, opt = prepare_training(model, torch.optim.AdamW(model.parameters(), **kwargs),
                                  dtype=torch.bfloat16, split_master_weight=True)
    else:
        raise ValueError(f"unknown variant {variant}")
    return model, opt


def _storage_bytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total


def weight_and_state_bytes(model: nn.Module, opt) -> tuple[int, int]:
    weights = list(model.parameters())
    master = []
    if isinstance(opt, FP32MasterAdamW):
        master = list(opt.master)
    elif hasattr(opt, "_halves"):
        master = [trail for _, trail in opt._halves.values()]
    inner = getattr(opt, "inner", opt)
    state = [v for s in inner.state.values() for v in s.values()
             if torch.is_tensor(v) and v.numel() > 1]
    work = list(getattr(opt, "_work", None) or ())
    return _storage_bytes(weights + master), _storage_bytes(state), _storage_bytes(work)


def train_step(model: nn.Module, opt, tokens: torch.Tensor) -> tuple[float, float]:
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(tokens).float().pow(2).mean()
    loss.backward()
    mid = time.perf_counter()
    opt.step()
    opt.zero_grad()
    end = time.perf_counter()
    return (end - start) * 1e3, (end - mid) * 1e3


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). ru_maxrss would include the parent's peak: it
    survives fork and exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bf16_child(variant: str, layers: int, steps: int) -> None:
    """One variant in a fresh process: its peak RSS is its own."""
    torch.set_num_threads(THREADS)
    base_rss = peak_rss_mb()
    model, opt = make_bf16_variant(variant, layers)
    tokens = torch.randint(0, 8192, (4, 64))
    for _ in range(steps):
        train_step(model, opt, tokens)
    weights, state, work = weight_and_state_bytes(model, opt)
    n = sum(p.numel() for p in model.parameters())
    peak = peak_rss_mb()
    print(json.dumps({"variant": variant, "params": n, "weights_bytes": weights,
                      "state_bytes": state, "work_bytes": work, "peak_rss_mb": peak,
                      "import_rss_mb": base_rss}))


def bench_bf16(repeats: int, layers: int) -> None:
    variants = ["fp32 model", "bf16 + fp32 master", "optlib split"]
    print("\n## bf16 training step (autocast forward + backward + AdamW step), batch 4 x 64 tokens\n")
    rows = []
    for variant in variants:
        out = subprocess.run([sys.executable, __file__, "--bf16-child", variant,
                              "--layers", str(layers)], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{rows[0]['params'] / 1e6:.1f} M parameters\n")
    print(f"{'variant':20} {'weights+master B/param':>23} {'+ AdamW state B/param':>22} "
          f"{'step buffers MB':>16} {'peak RSS MB':>12}")
    for r in rows:
        n = r["params"]
        print(f"{r['variant']:20} {r['weights_bytes'] / n:23.2f} "
              f"{(r['weights_bytes'] + r['state_bytes']) / n:22.2f} "
              f"{r['work_bytes'] / 2**20:16.0f} {r['peak_rss_mb']:12.0f}")
    # step times, interleaved in this process
    built = {v: make_bf16_variant(v, layers) for v in variants}
    tokens = torch.randint(0, 8192, (4, 64))
    for v in variants:
        for _ in range(2):
            train_step(*built[v], tokens)
    total: dict[str, list[float]] = {v: [] for v in variants}
    opt_only: dict[str, list[float]] = {v: [] for v in variants}
    order = list(variants)
    for _ in range(repeats):
        random.shuffle(order)
        for v in order:
            t, o = train_step(*built[v], tokens)
            total[v].append(t)
            opt_only[v].append(o)
    base = statistics.median(total["bf16 + fp32 master"])
    base_opt = statistics.median(opt_only["bf16 + fp32 master"])
    print(f"\n{'variant':20} {'train step ms':>14} {'optimizer ms':>13} "
          f"{'step vs 6-byte':>15} {'opt vs 6-byte':>14}")
    for v in variants:
        t, o = statistics.median(total[v]), statistics.median(opt_only[v])
        print(f"{v:20} {t:14.1f} {o:13.1f} {base / t:14.2f}x {base_opt / o:13.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--layers", type=int, default=2,
                        help="encoder blocks (2 gives 33.6 M parameters)")
    parser.add_argument("--part", choices=("all", "step", "bf16"), default="all")
    parser.add_argument("--optimizers", nargs="+", choices=list(OPTIMIZERS),
                        default=list(OPTIMIZERS), help="optimizers for the step part")
    parser.add_argument("--bf16-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    if args.bf16_child:
        bf16_child(args.bf16_child, args.layers, steps=3)
        return
    print(environment())
    if args.part in ("all", "step"):
        bench_steps(args.repeats, args.layers, args.optimizers)
    if args.part in ("all", "bf16"):
        bench_bf16(args.repeats, args.layers)


if __name__ == "__main__":
    main()
