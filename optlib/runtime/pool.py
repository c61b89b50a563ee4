"""CPUPool: a named set of logical CPUs to run work on."""

from __future__ import annotations

from dataclasses import dataclass

from optlib.cpu import CPUInfo, cpu_info

__all__ = ["CPUPool"]


@dataclass(frozen=True, init=False)
class CPUPool:
    """Logical CPU ids to run on, given directly (``core_ids``) or as a NUMA node (``node_id``).

    A node pool takes one logical CPU per physical core unless ``use_logical_cores=True``:
    two threads on SMT siblings share one core's vector units, which slows compute-bound
    kernels more than it helps. ``cpu`` describes the machine (this one by default); tests
    pass a fake topology.
    """

    core_ids: tuple[int, ...]
    node_id: int | None

    def __init__(self, core_ids: list[int] | tuple[int, ...] | None = None,
                 node_id: int | None = None, *, use_logical_cores: bool = False,
                 cpu: CPUInfo | None = None) -> None:
        if (core_ids is None) == (node_id is None):
            raise ValueError("CPUPool needs exactly one of core_ids=[...] or node_id=N")
        cpu = cpu or cpu_info()
        known = {c.cpu for c in cpu.cpus}
        if node_id is not None:
            cpus = cpu.cpus_of_node(node_id)
            if not use_logical_cores:
                cores = {c.core for c in cpus}
                cpus = tuple(c for c in cpu.first_thread_per_core() if c.core in cores)
            ids = tuple(c.cpu for c in cpus)
        else:
            ids = tuple(core_ids)  # type: ignore[arg-type]
            if not ids:
                raise ValueError("core_ids must not be empty")
            if len(set(ids)) != len(ids):
                raise ValueError(f"core_ids has duplicates: {list(ids)}")
            unknown = sorted(set(ids) - known)
            if unknown:
                raise ValueError(f"core_ids {unknown} do not exist; this machine has logical "
                                 f"CPUs {sorted(known)}")
        object.__setattr__(self, "core_ids", ids)
        object.__setattr__(self, "node_id", node_id)

    def __len__(self) -> int:
        return len(self.core_ids)

    def split(self, parts: int) -> tuple["CPUPool", ...]:
        """Divide the cores into ``parts`` contiguous pools, sizes differing by at most one."""
        if not 1 <= parts <= len(self.core_ids):
            raise ValueError(f"cannot split {len(self.core_ids)} cores into {parts} pools; "
                             f"allowed: 1..{len(self.core_ids)}")
        base, extra = divmod(len(self.core_ids), parts)
        pools, start = [], 0
        for i in range(parts):
            size = base + (1 if i < extra else 0)
            pool = object.__new__(CPUPool)
            object.__setattr__(pool, "core_ids", self.core_ids[start:start + size])
            object.__setattr__(pool, "node_id", self.node_id)
            pools.append(pool)
            start += size
        return tuple(pools)
