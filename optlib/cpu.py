"""The CPU's facts: model, instruction sets, and topology (cores, sockets, NUMA nodes).

optlib decides kernels, thread counts and core bindings from these facts, and the launcher
builds its plans from the same object, so both agree on what the machine is.

Everything is parsed from text (``/proc/cpuinfo``, ``lscpu -p``, sysfs cpulists) by pure
functions, so tests can describe any machine (two SMT sockets, an ARM server, a container
without NUMA information) without running on one. :func:`cpu_info` reads the real machine
once and caches the answer. Nothing here executes an instruction: reading the kernel's view
of the CPU works the same on x86 and ARM.
"""

from __future__ import annotations

import functools
import os
import platform
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CPUInfo",
    "CpuinfoFacts",
    "LogicalCPU",
    "cpu_info",
    "cpu_info_from_text",
    "normalize_isa",
    "parse_cpu_list",
    "parse_cpuinfo",
    "parse_lscpu_p",
    "probe",
]


@dataclass(frozen=True, order=True)
class LogicalCPU:
    """One hardware thread as the OS numbers it.

    ``core`` is unique across the machine (two sockets never share a core id), so SMT
    siblings are the logical CPUs with the same ``core``.
    """

    cpu: int
    core: int
    socket: int = 0
    node: int = 0

    def __post_init__(self) -> None:
        for name in ("cpu", "core", "socket", "node"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"LogicalCPU.{name} must be a non-negative int, got {value!r}")


@dataclass(frozen=True)
class CPUInfo:
    """What optlib needs to know about a CPU; build it with :func:`cpu_info` or the parsers."""

    model_name: str
    arch: str
    isa: frozenset[str]
    cpus: tuple[LogicalCPU, ...]

    def __post_init__(self) -> None:
        if not self.cpus:
            raise ValueError("CPUInfo needs at least one logical CPU")
        ids = [c.cpu for c in self.cpus]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate logical CPU ids in {sorted(ids)}")
        object.__setattr__(self, "cpus", tuple(sorted(self.cpus)))
        object.__setattr__(self, "isa", frozenset(self.isa))

    @property
    def logical_cores(self) -> int:
        return len(self.cpus)

    @property
    def physical_cores(self) -> int:
        return len({c.core for c in self.cpus})

    @property
    def sockets(self) -> int:
        return len({c.socket for c in self.cpus})

    @property
    def numa_nodes(self) -> int:
        return len({c.node for c in self.cpus})

    @property
    def threads_per_core(self) -> int:
        return max(1, self.logical_cores // self.physical_cores)

    @property
    def has_native_bf16(self) -> bool:
        """True where bf16 matmuls run in hardware; elsewhere bf16 is emulated and slower."""
        return bool(self.isa & {"avx512_bf16", "amx", "amx_bf16", "bf16"})

    def node_ids(self) -> tuple[int, ...]:
        return tuple(sorted({c.node for c in self.cpus}))

    def cpus_of_node(self, node: int) -> tuple[LogicalCPU, ...]:
        chosen = tuple(c for c in self.cpus if c.node == node)
        if not chosen:
            raise ValueError(f"NUMA node {node} does not exist; nodes: {list(self.node_ids())}")
        return chosen

    def first_thread_per_core(self) -> tuple[LogicalCPU, ...]:
        """One logical CPU per physical core (the lowest-numbered sibling)."""
        seen: dict[int, LogicalCPU] = {}
        for c in self.cpus:
            seen.setdefault(c.core, c)
        return tuple(sorted(seen.values()))

    def summary(self) -> str:
        return (
            f"{self.model_name} ({self.arch}): {self.physical_cores} cores, "
            f"{self.logical_cores} threads, {self.sockets} socket(s), {self.numa_nodes} NUMA "
            f"node(s); ISA: {', '.join(sorted(self.isa)) or 'baseline'}"
        )


# Kernel flag (x86 "flags", ARM "Features") -> optlib's name. Only features that change which
# kernel is fast are listed; several kernel flags may map to one name.
_X86_ISA = {
    "sse4_2": "sse4_2",
    "avx": "avx",
    "avx2": "avx2",
    "fma": "fma",
    "f16c": "f16c",
    "avx512f": "avx512",
    "avx512bw": "avx512bw",
    "avx512vl": "avx512vl",
    "avx512_vnni": "avx512_vnni",
    "avx512_bf16": "avx512_bf16",
    "avx512_fp16": "avx512_fp16",
    "avx_vnni": "avx_vnni",
    "amx_tile": "amx",
    "amx_bf16": "amx_bf16",
    "amx_int8": "amx_int8",
    "amx_fp16": "amx_fp16",
}
_ARM_ISA = {
    "asimd": "neon",
    "asimddp": "dotprod",
    "asimdhp": "fp16",
    "fphp": "fp16",
    "sve": "sve",
    "sve2": "sve2",
    "bf16": "bf16",
    "i8mm": "i8mm",
    "sme": "sme",
}
_ARM_ARCHES = ("aarch64", "arm64", "armv8", "armv9")


def _is_arm(arch: str) -> bool:
    return arch.lower().startswith(_ARM_ARCHES) or arch.lower().startswith("arm")


def normalize_isa(flags: Iterable[str], arch: str) -> frozenset[str]:
    """Map the kernel's feature flags to optlib's vocabulary for this architecture."""
    table = _ARM_ISA if _is_arm(arch) else _X86_ISA
    return frozenset(table[f] for f in (f.lower() for f in flags) if f in table)


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """Parse the kernel's cpulist syntax ("0-3,8,10-11") into sorted CPU ids."""
    ids: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if match is None:
            raise ValueError(f"malformed CPU list item {part!r} in {text!r}; expected N or N-M")
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise ValueError(f"descending CPU range {part!r} in {text!r}")
        ids.update(range(lo, hi + 1))
    return tuple(sorted(ids))


@dataclass(frozen=True)
class CpuinfoFacts:
    model_name: str
    flags: frozenset[str]
    cpus: tuple[LogicalCPU, ...]


def parse_cpuinfo(text: str) -> CpuinfoFacts:
    """Read model name, feature flags and (on x86) socket/core ids from /proc/cpuinfo text.

    ARM kernels print neither ``physical id`` nor ``core id``; each logical CPU then counts as
    its own core on socket 0, which sysfs topology (see :func:`probe`) refines when present.
    """
    blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    model = ""
    flags: set[str] = set()
    raw: list[tuple[int, int | None, int]] = []
    for block in blocks:
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip()
        if "processor" not in fields or not fields["processor"].isdigit():
            model = model or fields.get("model name", fields.get("hardware", ""))
            continue
        cpu = int(fields["processor"])
        model = model or fields.get("model name", "")
        if not model and "cpu part" in fields:
            model = f"{fields.get('cpu implementer', '?')}:{fields['cpu part']}"
        flags.update((fields.get("flags") or fields.get("features") or "").split())
        socket = int(fields.get("physical id", "0") or 0)
        core = int(fields["core id"]) if fields.get("core id", "").isdigit() else None
        raw.append((cpu, core, socket))
    if not raw:
        raise ValueError("no 'processor' entries found in the cpuinfo text")
    core_index: dict[tuple[int, int], int] = {}
    cpus = []
    for cpu, core, socket in sorted(raw):
        key = (socket, core if core is not None else -1 - cpu)
        core_index.setdefault(key, len(core_index))
        cpus.append(LogicalCPU(cpu=cpu, core=core_index[key], socket=socket))
    return CpuinfoFacts(model_name=model or "unknown", flags=frozenset(flags), cpus=tuple(cpus))


def parse_lscpu_p(text: str) -> tuple[LogicalCPU, ...]:
    """Parse ``lscpu -p=CPU,Core,Socket,Node`` (or plain ``lscpu -p``) output.

    The column order comes from the header comment, so either form works; an empty Node
    column (no NUMA information) means node 0.
    """
    columns = ["cpu", "core", "socket", "node"]
    cpus = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            header = line.lstrip("#").strip()
            if header.lower().startswith("cpu,"):
                columns = [h.strip().lower() for h in header.split(",")]
            continue
        values = dict(zip(columns, (v.strip() for v in line.split(","))))
        try:
            cpus.append(
                LogicalCPU(
                    cpu=int(values["cpu"]),
                    core=int(values.get("core") or values["cpu"]),
                    socket=int(values.get("socket") or 0),
                    node=int(values.get("node") or 0),
                )
            )
        except (KeyError, ValueError) as err:
            raise ValueError(f"malformed lscpu -p line {line!r}: {err}") from err
    if not cpus:
        raise ValueError("no CPU lines found in the lscpu -p text")
    return tuple(cpus)


def _apply_nodes(cpus: Iterable[LogicalCPU], node_cpulists: Mapping[int, str]) -> tuple[LogicalCPU, ...]:
    node_of = {cpu: node for node, text in node_cpulists.items() for cpu in parse_cpu_list(text)}
    return tuple(
        LogicalCPU(cpu=c.cpu, core=c.core, socket=c.socket, node=node_of.get(c.cpu, c.node))
        for c in cpus
    )


def cpu_info_from_text(
    cpuinfo: str,
    *,
    arch: str = "x86_64",
    lscpu_p: str | None = None,
    node_cpulists: Mapping[int, str] | None = None,
) -> CPUInfo:
    """Build a CPUInfo from text a machine would produce; the seam tests use.

    Topology comes from ``lscpu_p`` when given (it knows cores, sockets and nodes), else from
    the cpuinfo text; ``node_cpulists`` ({node: "0-27,56-83"}, sysfs' nodeN/cpulist) then sets
    each CPU's NUMA node.
    """
    facts = parse_cpuinfo(cpuinfo)
    cpus = parse_lscpu_p(lscpu_p) if lscpu_p is not None else facts.cpus
    if node_cpulists:
        cpus = _apply_nodes(cpus, node_cpulists)
    return CPUInfo(
        model_name=facts.model_name,
        arch=arch,
        isa=normalize_isa(facts.flags, arch),
        cpus=tuple(cpus),
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _sysfs_topology(sys_root: Path, cpus: tuple[LogicalCPU, ...]) -> tuple[LogicalCPU, ...]:
    """Refine socket/core ids from sysfs, which also knows them on ARM."""
    pairs = {}
    for c in cpus:
        topo = sys_root / "devices/system/cpu" / f"cpu{c.cpu}" / "topology"
        package, core = _read(topo / "physical_package_id"), _read(topo / "core_id")
        if package is None or core is None:
            return cpus
        try:
            pairs[c.cpu] = (max(0, int(package)), int(core))
        except ValueError:
            return cpus
    index: dict[tuple[int, int], int] = {}
    refined = []
    for c in cpus:
        key = pairs[c.cpu]
        index.setdefault(key, len(index))
        refined.append(LogicalCPU(cpu=c.cpu, core=index[key], socket=key[0], node=c.node))
    return tuple(refined)


def _sysfs_nodes(sys_root: Path) -> dict[int, str]:
    nodes: dict[int, str] = {}
    base = sys_root / "devices/system/node"
    if not base.is_dir():
        return nodes
    for entry in base.iterdir():
        match = re.fullmatch(r"node(\d+)", entry.name)
        text = _read(entry / "cpulist") if match else None
        if match and text and text.strip():
            nodes[int(match.group(1))] = text
    return nodes


def probe(proc_root: str | os.PathLike = "/proc", sys_root: str | os.PathLike = "/sys",
          arch: str | None = None) -> CPUInfo:
    """Read a machine's CPU facts from a procfs and a sysfs tree (real or fake)."""
    text = _read(Path(proc_root) / "cpuinfo")
    if text is None:
        raise OSError(f"cannot read {Path(proc_root) / 'cpuinfo'}")
    arch = arch or platform.machine() or "unknown"
    facts = parse_cpuinfo(text)
    sys_path = Path(sys_root)
    cpus = _apply_nodes(_sysfs_topology(sys_path, facts.cpus), _sysfs_nodes(sys_path))
    return CPUInfo(model_name=facts.model_name, arch=arch,
                   isa=normalize_isa(facts.flags, arch), cpus=cpus)


@functools.lru_cache(maxsize=1)
def cpu_info() -> CPUInfo:
    """This machine's CPU facts, read once per process.

    Falls back to a one-socket, one-node view of ``os.cpu_count()`` CPUs where /proc is not
    readable (macOS, some sandboxes), so callers always get an answer.
    """
    try:
        return probe()
    except (OSError, ValueError):
        count = os.cpu_count() or 1
        return CPUInfo(
            model_name=platform.processor() or "unknown",
            arch=platform.machine() or "unknown",
            isa=frozenset(),
            cpus=tuple(LogicalCPU(cpu=i, core=i) for i in range(count)),
        )
