"""optlib.cpu: parsing the kernel's CPU descriptions of machines we do not have."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from optlib.cpu import (CPUInfo, LogicalCPU, cpu_info, cpu_info_from_text, normalize_isa,
                        parse_cpu_list, parse_cpuinfo, parse_lscpu_p, probe)

X86_FLAGS = ("fpu sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16 "
             "amx_tile amx_bf16 amx_int8")


def x86_cpuinfo(sockets: int, cores: int, threads: int, flags: str = X86_FLAGS) -> str:
    """/proc/cpuinfo as Linux numbers an SMT machine: first threads of all cores, then siblings."""
    blocks, cpu = [], 0
    for thread in range(threads):
        for socket in range(sockets):
            for core in range(cores):
                blocks.append(f"processor\t: {cpu}\nvendor_id\t: GenuineIntel\n"
                              f"model name\t: Fake Xeon 8480\nphysical id\t: {socket}\n"
                              f"siblings\t: {cores * threads}\ncore id\t\t: {core}\n"
                              f"cpu cores\t: {cores}\nflags\t\t: {flags}\n")
                cpu += 1
    return "\n".join(blocks)


ARM_CPUINFO = "\n".join(
    f"processor\t: {i}\nBogoMIPS\t: 2100.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 "
    f"crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp sve bf16 i8mm\n"
    f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd40\n"
    for i in range(4))

LSCPU_P = """# The following is the parsable format, which can be fed to other
# programs. Each different item in every column has an unique ID
# starting usually from zero.
# CPU,Core,Socket,Node,,L1d,L1i,L2,L3
0,0,0,0,,0,0,0,0
1,1,0,0,,1,1,1,0
2,2,1,1,,2,2,2,1
3,3,1,1,,3,3,3,1
4,0,0,0,,0,0,0,0
5,1,0,0,,1,1,1,0
6,2,1,1,,2,2,2,1
7,3,1,1,,3,3,3,1
"""


def test_two_socket_smt_machine_from_cpuinfo_and_node_lists() -> None:
    info = cpu_info_from_text(x86_cpuinfo(2, 28, 2),
                              node_cpulists={0: "0-27,56-83", 1: "28-55,84-111"})
    assert (info.logical_cores, info.physical_cores, info.sockets, info.numa_nodes) == (112, 56, 2, 2)
    assert info.threads_per_core == 2
    assert info.model_name == "Fake Xeon 8480"
    # CPU 56 is the sibling of CPU 0: same core, same socket, same node
    assert info.cpus[56].core == info.cpus[0].core and info.cpus[56].node == 0
    assert info.cpus[84].socket == 1 and info.cpus[84].node == 1
    assert [c.cpu for c in info.first_thread_per_core()] == list(range(56))
    assert info.has_native_bf16


def test_isa_is_normalized() -> None:
    assert normalize_isa(X86_FLAGS.split(), "x86_64") == {
        "sse4_2", "avx", "avx2", "fma", "f16c", "avx512", "avx512bw", "avx512vl",
        "avx512_vnni", "avx512_bf16", "amx", "amx_bf16", "amx_int8"}
    avx2_only = cpu_info_from_text(x86_cpuinfo(1, 2, 1, flags="sse4_2 avx avx2 fma"))
    assert not avx2_only.has_native_bf16 and "avx512" not in avx2_only.isa


def test_arm_machine_gets_arm_names_and_no_x86_names() -> None:
    info = cpu_info_from_text(ARM_CPUINFO, arch="aarch64")
    assert info.isa == {"neon", "dotprod", "fp16", "sve", "bf16", "i8mm"}
    assert info.logical_cores == info.physical_cores == 4
    assert info.model_name == "0x41:0xd40"
    assert info.has_native_bf16


def test_lscpu_topology_wins_over_cpuinfo() -> None:
    info = cpu_info_from_text(x86_cpuinfo(1, 8, 1), lscpu_p=LSCPU_P)
    assert (info.logical_cores, info.physical_cores, info.sockets, info.numa_nodes) == (8, 4, 2, 2)
    assert [c.cpu for c in info.cpus_of_node(1)] == [2, 3, 6, 7]


def test_lscpu_without_node_column_means_node_zero() -> None:
    cpus = parse_lscpu_p("# CPU,Core,Socket,Node\n0,0,0,\n1,1,0,\n")
    assert cpus == (LogicalCPU(0, 0, 0, 0), LogicalCPU(1, 1, 0, 0))


@pytest.mark.parametrize("text, expected", [
    ("0-3,8", (0, 1, 2, 3, 8)), ("5", (5,)), ("0-1,1-2\n", (0, 1, 2)), ("", ()),
])
def test_parse_cpu_list(text: str, expected: tuple[int, ...]) -> None:
    assert parse_cpu_list(text) == expected


@pytest.mark.parametrize("bad", ["a-b", "3-1", "1,,x"])
def test_parse_cpu_list_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_cpu_list(bad)


@pytest.mark.parametrize("text, message", [
    ("vendor_id : x\n", "no 'processor' entries"),
    ("", "no 'processor' entries"),
])
def test_parse_cpuinfo_rejects_text_without_cpus(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cpuinfo(text)


def test_cpuinfo_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="at least one logical CPU"):
        CPUInfo(model_name="x", arch="x86_64", isa=frozenset(), cpus=())
    with pytest.raises(ValueError, match="duplicate logical CPU ids"):
        CPUInfo(model_name="x", arch="x86_64", isa=frozenset(),
                cpus=(LogicalCPU(0, 0), LogicalCPU(0, 1)))
    with pytest.raises(ValueError, match="non-negative"):
        LogicalCPU(cpu=-1, core=0)


def test_probe_reads_a_fake_proc_and_sys_tree(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text(ARM_CPUINFO)
    for cpu in range(4):  # 2 packages x 2 cores, one NUMA node per package
        topo = tmp_path / "sys/devices/system/cpu" / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "physical_package_id").write_text(f"{cpu // 2}\n")
        (topo / "core_id").write_text(f"{cpu % 2}\n")
    for node, cpus in ((0, "0-1"), (1, "2-3")):
        node_dir = tmp_path / "sys/devices/system/node" / f"node{node}"
        node_dir.mkdir(parents=True)
        (node_dir / "cpulist").write_text(cpus + "\n")
    info = probe(tmp_path / "proc", tmp_path / "sys", arch="aarch64")
    assert (info.sockets, info.numa_nodes, info.physical_cores) == (2, 2, 4)
    assert [c.node for c in info.cpus] == [0, 0, 1, 1]


def test_this_machine() -> None:
    info = cpu_info()
    assert info is cpu_info()  # read once per process
    assert info.arch == platform.machine()
    assert info.logical_cores >= 1 and info.physical_cores <= info.logical_cores
    assert info.summary().startswith(info.model_name)
