"""The launch plan is a pure function of (machine, options): fed fake machines here."""

from __future__ import annotations

import pytest

from optlib.cpu import CPUInfo, LogicalCPU
from optlib.launch import LaunchError, LaunchOptions, Tools, format_plan, make_plan

PY = "/opt/py/bin/python"
# 2 sockets x 28 cores, SMT: CPUs 0-27 socket 0, 28-55 socket 1, siblings are c + 56.
XEON = CPUInfo(model_name="fake 2x28", arch="x86_64", isa=frozenset({"avx512", "amx"}),
               cpus=tuple(LogicalCPU(cpu=c, core=c % 56, socket=(c % 56) // 28,
                                     node=(c % 56) // 28) for c in range(112)))
SMALL = CPUInfo(model_name="fake 2 cores", arch="x86_64", isa=frozenset({"avx2"}),
                cpus=(LogicalCPU(0, 0), LogicalCPU(1, 1)))
FULL_TOOLS = Tools(numactl="/usr/bin/numactl", taskset="/usr/bin/taskset",
                   jemalloc="/lib/libjemalloc.so.2", tcmalloc="/lib/libtcmalloc.so.4",
                   intel_openmp="/lib/libiomp5.so")
BARE = Tools()  # no numactl, no taskset, no libraries


def plan(cpu: CPUInfo = XEON, tools: Tools = FULL_TOOLS, environ: dict | None = None,
         allowed: frozenset[int] | None = None, **options):
    return make_plan(cpu, LaunchOptions(program="train.py", program_args=("--epochs", "1"),
                                        **options),
                     tools=tools, environ=environ or {}, python=PY, allowed_cpus=allowed)


@pytest.mark.parametrize("options, expected_cpus", [
    (dict(), [tuple(range(56))]),
    (dict(use_logical_cores=True),  # siblings together, node 0 first
     [tuple(c for core in range(56) for c in (core, core + 56))]),
    (dict(use_logical_cores=True, ncores_per_instance=4), [
        tuple(c for core in range(i, i + 2) for c in (core, core + 56)) for i in range(0, 56, 2)]),
    (dict(throughput_mode=True), [tuple(range(28)), tuple(range(28, 56))]),
    (dict(latency_mode=True), [tuple(range(i, i + 4)) for i in range(0, 56, 4)]),
    (dict(ninstances=4), [tuple(range(i, i + 14)) for i in range(0, 56, 14)]),
    (dict(ncores_per_instance=20), [tuple(range(20)), tuple(range(20, 40))]),
    (dict(ninstances=2, ncores_per_instance=3), [(0, 1, 2), (3, 4, 5)]),
    (dict(node_id=1), [tuple(range(28, 56))]),
    (dict(node_id=1, use_logical_cores=True),
     [tuple(c for core in range(28, 56) for c in (core, core + 56))]),
    (dict(core_list="0-1,56-57"), [(0, 56, 1, 57)]),
])
def test_cores_per_instance_on_two_smt_sockets(options: dict, expected_cpus: list) -> None:
    result = plan(**options)
    assert [i.cpus for i in result.instances] == expected_cpus
    for inst in result.instances:
        assert dict(inst.env)["OMP_NUM_THREADS"] == str(len(inst.cpus))


def test_throughput_mode_binds_memory_to_each_node_with_numactl() -> None:
    result = plan(throughput_mode=True)
    assert [i.node for i in result.instances] == [0, 1]
    first = result.instances[1]
    assert first.binder == "numactl"
    assert first.command == ("/usr/bin/numactl", "-C", "28-55", "-m", "1", PY, "-u", "train.py",
                             "--epochs", "1")


def test_instance_spanning_nodes_gets_no_memory_binding() -> None:
    result = plan()
    assert result.instances[0].node is None
    assert "-m" not in result.instances[0].command[:4]


def test_environment_with_intel_openmp_and_jemalloc() -> None:
    env = dict(plan(memory_allocator="jemalloc", omp_runtime="intel").instances[0].env)
    assert env["LD_PRELOAD"] == "/lib/libjemalloc.so.2:/lib/libiomp5.so"
    assert env["KMP_AFFINITY"] == "granularity=fine,compact,1,0"
    assert env["KMP_BLOCKTIME"] == "1"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert env["MALLOC_CONF"].startswith("oversize_threshold:1")


def test_auto_prefers_tcmalloc_and_gnu_openmp_sets_no_kmp_variables() -> None:
    tools = Tools(numactl="/usr/bin/numactl", tcmalloc="/lib/libtcmalloc.so.4",
                  jemalloc="/lib/libjemalloc.so.2")
    env = dict(plan(tools=tools).instances[0].env)
    assert env["LD_PRELOAD"] == "/lib/libtcmalloc.so.4"
    assert "MALLOC_CONF" not in env and "KMP_AFFINITY" not in env and "KMP_BLOCKTIME" not in env


@pytest.mark.parametrize("allocator", ["jemalloc", "tcmalloc"])
def test_a_preloaded_allocator_comes_with_onetbb_loading_hwloc_without_deep_binding(allocator: str) -> None:
    env = dict(plan(memory_allocator=allocator).instances[0].env)
    assert env["TBB_ENABLE_SANITIZERS"] == "1"
    assert "TBB_ENABLE_SANITIZERS" not in dict(plan(memory_allocator="default").instances[0].env)


def test_user_variables_are_never_overwritten_and_the_plan_says_so() -> None:
    user = {"OMP_NUM_THREADS": "7", "LD_PRELOAD": "/mine.so", "OMP_WAIT_POLICY": "ACTIVE"}
    result = plan(environ=user, memory_allocator="jemalloc")
    env = dict(result.instances[0].env)
    assert not set(user) & set(env)
    assert env["MALLOC_CONF"].startswith("oversize_threshold")
    for key, value in user.items():
        assert any(f"kept the user's {key}={value}" in n for n in result.notes), key


def test_small_machine_without_numactl_uses_taskset_and_notes_latency_mode() -> None:
    tools = Tools(taskset="/usr/bin/taskset", jemalloc="/lib/libjemalloc.so.2")
    result = plan(cpu=SMALL, tools=tools, latency_mode=True)
    (inst,) = result.instances
    assert inst.cpus == (0, 1) and inst.node == 0
    assert inst.command[:3] == ("/usr/bin/taskset", "-c", "0-1")
    assert any("only 2 available" in n for n in result.notes)


def test_machine_with_no_binder_tool_falls_back_to_sched_setaffinity() -> None:
    result = plan(cpu=SMALL, tools=BARE, ninstances=2)
    assert [i.binder for i in result.instances] == ["sched_setaffinity"] * 2
    assert result.instances[1].command == (PY, "-u", "train.py", "--epochs", "1")
    assert any("default allocator" in n for n in result.notes)


@pytest.mark.parametrize("allocator, package", [("jemalloc", "libjemalloc2"),
                                                ("tcmalloc", "libtcmalloc-minimal4")])
def test_missing_allocator_is_an_error_naming_the_debian_package(allocator: str, package: str) -> None:
    with pytest.raises(LaunchError, match=f"install the Debian package {package}"):
        plan(tools=BARE, memory_allocator=allocator)


@pytest.mark.parametrize("options, message", [
    (dict(ninstances=3, ncores_per_instance=20), "only 56 available"),
    (dict(ncores_per_instance=57), "only 56 available"),
    (dict(core_list="0,200"), r"CPUs \[200\] that do not exist"),
    (dict(core_list="3-1"), "descending"),
    (dict(node_id=2), "NUMA node 2 does not exist"),
    (dict(omp_runtime="intel", tools=BARE), "pip install intel-openmp"),
])
def test_impossible_plans_are_errors(options: dict, message: str) -> None:
    with pytest.raises(LaunchError, match=message):
        plan(**options)


@pytest.mark.parametrize("options, message", [
    (dict(latency_mode=True, throughput_mode=True), "exclude each other"),
    (dict(latency_mode=True, ninstances=2), "sets the instances and cores itself"),
    (dict(core_list="0", node_id=0), "exclude each other"),
    (dict(ninstances=0), "must be >= 1"),
    (dict(memory_allocator="mimalloc"), "supported: auto, default, jemalloc, tcmalloc"),
])
def test_bad_options_are_rejected(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LaunchOptions(program="x.py", **options)


def test_cpus_outside_the_allowed_set_are_dropped_with_a_note() -> None:
    result = plan(allowed=frozenset(range(10)))
    assert result.instances[0].cpus == tuple(range(10))
    assert any("outside this process's allowed set" in n for n in result.notes)


def test_unused_cores_and_log_files_are_reported() -> None:
    result = plan(ncores_per_instance=25, log_dir="/logs/")
    assert [i.log_file for i in result.instances] == ["/logs/instance_0_cpus_0-24.log",
                                                       "/logs/instance_1_cpus_25-49.log"]
    assert any("6 core(s) left unused: 50-55" in n for n in result.notes)


def test_plan_is_frozen_and_printable() -> None:
    result = plan(throughput_mode=True)
    with pytest.raises(AttributeError):
        result.instances = ()  # type: ignore[misc]
    text = format_plan(result)
    assert "instance 1: cpus 28-55 (28 cores), NUMA node 1, bound by numactl" in text
    assert "env: OMP_NUM_THREADS=28" in text
    assert result.to_dict()["instances"][0]["env"]["OMP_WAIT_POLICY"] == "PASSIVE"
