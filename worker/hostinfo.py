"""The facts that make a host's numbers comparable, and the host's row in the store.

A series is (repository, benchmark, host fingerprint): when any fact below changes (another
CPU, other cores, a new kernel, another torch), the fingerprint changes and new series start,
instead of the change detector calling the hardware swap a regression. Facts are read from
``/proc`` and ``/sys`` without importing torch, so registering a host costs milliseconds.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Host
from worker.pinning import Pinning

HOST_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# The ISA extensions that change which kernels PyTorch picks; the rest of the flags are noise.
_ISA_OF_INTEREST = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd",
    "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
    "asimd", "sve", "sve2",
)


def validate_host_name(name: str) -> str:
    """Host names become queue names (``bench.<host>``): lowercase letters, digits, - and _."""
    if not HOST_NAME.match(name):
        raise ValueError(
            f"bad host name {name!r}: use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class HostFacts:
    cpu_model: str
    isa: tuple[str, ...]
    cores: str
    numa_node: int | None
    threads: int
    torch_version: str
    kernel: str
    governor: str | None

    @property
    def fingerprint(self) -> str:
        """A stable hash of every fact; equal fingerprints mean comparable numbers."""
        payload = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _cpuinfo(proc: Path) -> tuple[str, tuple[str, ...]]:
    try:
        text = (proc / "cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine(), ()
    model = ""
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    isa = tuple(f for f in _ISA_OF_INTEREST if f in flags)
    return model or platform.machine(), isa


def _governor(sys_root: Path, core: int) -> str | None:
    path = sys_root / f"devices/system/cpu/cpu{core}/cpufreq/scaling_governor"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _torch_version() -> str:
    # The version the benchmark subprocess will import; read from metadata, not by importing.
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return ""


def collect_facts(pinning: Pinning, *, proc: Path = Path("/proc"), sys_root: Path = Path("/sys")) -> HostFacts:
    """Read the host's facts; ``proc`` and ``sys_root`` let tests feed a fake machine."""
    model, isa = _cpuinfo(proc)
    return HostFacts(
        cpu_model=model[:255],
        isa=isa,
        cores=pinning.spec,
        numa_node=pinning.numa_node,
        threads=pinning.threads,
        torch_version=_torch_version(),
        kernel=platform.release()[:200],
        governor=_governor(sys_root, pinning.cores[0]),
    )


def register_host(session: Session, name: str, facts: HostFacts) -> Host:
    """Create or update the host's row; the fingerprint follows the facts."""
    validate_host_name(name)
    host = session.scalars(select(Host).where(Host.name == name)).one_or_none()
    if host is None:
        host = Host(name=name)
        session.add(host)
    host.cpu_model = facts.cpu_model
    host.isa = list(facts.isa)
    host.cores = facts.cores
    host.numa_node = facts.numa_node
    host.threads = facts.threads
    host.torch_version = facts.torch_version
    host.kernel = facts.kernel
    host.governor = facts.governor
    host.fingerprint = facts.fingerprint
    host.last_seen = utcnow()
    session.flush()
    return host
