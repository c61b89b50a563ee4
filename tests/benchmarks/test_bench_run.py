"""``python -m benchmarks run`` end to end, in subprocesses, at tiny sizes and short budgets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

from benchmarks import cli
from benchmarks.plan import Selection
from benchmarks.results import load_results
from benchmarks.runner import RunOptions, run
from benchmarks.variants import VariantSpec, all_variants

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "benchmarks" / "results.schema.json").read_text())

# Injected through the interpreter's standard start-up hook (a sitecustomize module on
# PYTHONPATH), so that eager DLRM misbehaves inside its subprocess exactly as a broken
# variant would, without any test hook in the product code. {fault} is what it does.
PLANTED = textwrap.dedent("""
    import dataclasses
    import time
    import benchmarks.variants.eager as eager

    _prepare = eager.VARIANT.prepare_eval

    def _planted_for_dlrm(workload, context):
        if type(workload.model).__name__ == "DLRM":
            {fault}
        return _prepare(workload, context)

    eager.VARIANT = dataclasses.replace(eager.VARIANT, prepare_eval=_planted_for_dlrm)
""")


def run_cli(args: list[str], tmp_path: Path, extra_env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **(extra_env or {}))
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=400)


def planted(tmp_path: Path, fault: str) -> dict[str, str]:
    """The environment that makes eager DLRM run ``fault`` inside its subprocess."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(PLANTED.format(fault=fault))
    return {"PYTHONPATH": str(hook)}


def planted_failure(tmp_path: Path) -> dict[str, str]:
    """The environment that makes eager DLRM fail inside its subprocess."""
    return planted(tmp_path, 'raise RuntimeError("planted failure in dlrm")')


def test_suite_goes_on_after_a_failure_and_exits_non_zero(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = run_cli(["run", "--models", "dlrm", "resnet18", "gcn", "--modes", "eval",
                    "--variants", "eager", "--tiny", "--quick", "--cores", "0", "--threads", "1",
                    "--out", str(out)], tmp_path, planted_failure(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "planted failure in dlrm" in proc.stdout
    raw = json.loads(out.read_text())
    jsonschema.validate(raw, SCHEMA)
    results = load_results(out)
    by_key = {r.metric_key: r for r in results.results}
    failed = by_key["dlrm-eval-fp32-eager_latency_p50"]
    assert failed.status == "failed" and "RuntimeError: planted failure in dlrm" in failed.error
    for model, family in (("resnet18", "cnn"), ("gcn", "gnn")):
        latency = by_key[f"{model}-eval-fp32-eager_latency_p50"]
        assert latency.status == "ok" and latency.family == family
        assert len(latency.samples) >= 3 and latency.unit == "ms" and latency.primary
        assert by_key[f"{model}-eval-fp32-eager_throughput"].direction == "higher"
        assert by_key[f"{model}-eval-fp32-eager_peak_rss"].samples[0] > 50
        assert results.metrics[f"{model}-eval-fp32-eager_latency_p99"] >= \
            results.metrics[f"{model}-eval-fp32-eager_latency_p50"]
        runtime = latency.config["instance_runtime"][0]["runtime"]
        assert runtime["affinity"] == [0] and runtime["threads"] == 1
        assert latency.command[:4] == ("python", "-m", "benchmarks", "run")
        assert "--tiny" in latency.command and "0" == latency.command[
            latency.command.index("--cores") + 1]
    env = results.environ
    assert env["cores"] == [0] and env["threads"] == 1 and env["torch_version"]
    assert env["cpu_model"] and isinstance(env["isa"], list)
    assert "git_sha" in env and "optlib_version" in env


def test_realtime_instances_each_get_their_cores(tmp_path: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two usable cores to run two pinned instances")
    out = tmp_path / "results.json"
    proc = run_cli(["run", "--models", "resnet18", "--modes", "eval", "--variants", "eager",
                    "--precisions", "fp32", "--scenario", "realtime", "--instances", "2",
                    "--cores", "0-1", "--tiny", "--quick", "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = load_results(out)
    latency = next(r for r in results.results if r.metric == "latency_p50")
    affinities = sorted(i["runtime"]["affinity"] for i in latency.config["instance_runtime"])
    assert affinities == [[0], [1]]
    assert latency.config["spec"]["batch_size"] == 1
    assert results.environ["instance_cores"] == [[0], [1]]


def test_processes_repeat_each_instance_in_fresh_processes_and_pool_them(tmp_path: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two usable cores to run two pinned instances")
    out = tmp_path / "results.json"
    proc = run_cli(["run", "--models", "dlrm", "--modes", "eval", "--variants", "eager",
                    "--precisions", "fp32", "--scenario", "realtime", "--instances", "2",
                    "--cores", "0-1", "--processes", "3", "--tiny", "--quick",
                    "--min-iters", "4", "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = load_results(out)
    latency = next(r for r in results.results if r.metric == "latency_p50")
    instances = latency.config["instance_runtime"]
    # Two instances, each the pool of three processes (a fresh pid each), per core.
    assert sorted(i["runtime"]["affinity"] for i in instances) == [[0], [1]]
    assert [i["processes"] for i in instances] == [3, 3]
    assert len(latency.samples) >= 2 * 3 * 4
    assert latency.config["processes"] == 3
    assert latency.command[latency.command.index("--processes") + 1] == "3"


def test_processes_must_be_positive(tmp_path: Path) -> None:
    proc = run_cli(["run", "--models", "dlrm", "--processes", "0", "--tiny", "--quick",
                    "--out", str(tmp_path / "r.json")], tmp_path)
    assert proc.returncode != 0 and "processes must be >= 1, got 0" in proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--models", "resnet51"], "unknown model 'resnet51'; known: bert_base, dlrm"),
    (["--variants", "tensorrt"], "unknown variant 'tensorrt'; known: eager"),
    (["--suite", "nightly"], "unknown suite 'nightly'; known: ci, full"),
    (["--modes", "serve"], "unknown mode 'serve'; known: eval, train, generate"),
    (["--cores", "4095"], "--cores 4095: CPU(s) 4095 are not available to this process, which may use"),
])
def test_unknown_names_are_usage_errors(args: list[str], message: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", *args, "--out", str(tmp_path / "r.json")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_missing_optional_package_is_skipped_with_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = VariantSpec(name="fake-runtime", description="needs a package that is not here",
                       modes=("eval",), precisions=("fp32",),
                       requires=("perfhud_no_such_package",),
                       prepare_eval=lambda w, c: None)  # never called: skipped before running
    monkeypatch.setitem(all_variants(), "fake-runtime", fake)
    results = run(RunOptions(selection=Selection(models=("resnet18",), modes=("eval",),
                                                 precisions=("fp32",),
                                                 variants=("fake-runtime",)), tiny=True),
                  progress_stream=open(os.devnull, "w"))
    assert {r.status for r in results.results} == {"skipped"}
    assert all("perfhud_no_such_package" in r.error for r in results.results)
    assert results.failed() == []


def test_list_shows_every_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("resnet50", "gpt_small", "edgecnn", "generate", "int8", "aot-inductor",
                 "onnxruntime", "openvino", "optlib-int8", "ci", "full"):
        assert name in out


def test_launcher_runs_the_benchmark_through_optlib_launch(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = run_cli(["run", "--models", "dlrm", "--modes", "eval", "--variants", "eager",
                    "--precisions", "fp32", "--launcher", "--cores", "0", "--tiny", "--quick",
                    "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    latency = next(r for r in load_results(out).results if r.metric == "latency_p50")
    runtime = latency.config["instance_runtime"][0]["runtime"]
    assert runtime["affinity"] == [0] and runtime["threads"] == 1
    assert "--launcher" in latency.command


@pytest.mark.parametrize("args, through_launcher", [
    (["--suite", "ci"], True), (["--suite", "ci", "--no-launcher"], False), ([], True), (["--no-launcher"], False),
])
def test_benchmarks_start_through_the_launcher_unless_told_not_to(
        tmp_path: Path, args: list[str], through_launcher: bool) -> None:
    """A suite and a selection alike: a selection run by hand measures what the suite does."""
    out = tmp_path / "results.json"
    proc = run_cli(["run", *args, "--models", "dlrm", "--modes", "eval", "--variants",
                    "eager", "--cores", "0", "--tiny", "--quick", "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = load_results(out)
    latency = next(r for r in results.results if r.metric == "latency_p50")
    assert results.environ["launcher"] is through_launcher
    assert latency.config["launcher"] is through_launcher
    # The reproduce command says how it ran, whatever the default.
    assert ("--launcher" in latency.command) is through_launcher
    assert ("--no-launcher" in latency.command) is not through_launcher


def test_side_by_side_variants_take_turns_on_the_same_core(tmp_path: Path) -> None:
    """Eager and optlib of one model, timed side by side on one core: both finish, each
    names the other, and their timed blocks alternate without ever overlapping, so a slow
    spell of the host falls on both."""
    out = tmp_path / "results.json"
    proc = run_cli(["run", "--models", "dlrm", "--modes", "eval", "--precisions", "fp32",
                    "--variants", "eager", "optlib", "--side-by-side", "--cores", "0", "--threads", "1",
                    "--tiny", "--time-budget", "1.5", "--warmup-max", "0.5", "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = load_results(out)
    assert results.environ["side_by_side"] is True
    latency = {r.variant: r for r in results.results if r.metric == "latency_p50"}
    assert latency["eager"].config["side_by_side_with"] == ["dlrm-eval-fp32-optlib"]
    assert latency["optlib"].config["side_by_side_with"] == ["dlrm-eval-fp32-eager"]
    blocks = sorted((start, end, variant) for variant, row in latency.items()
                    for start, end in row.config["instance_runtime"][0]["timed_blocks"])
    assert sum(v == "eager" for *_, v in blocks) >= 2 and sum(v == "optlib" for *_, v in blocks) >= 2
    assert all(end <= next_start for (_, end, _), (next_start, _, _) in zip(blocks, blocks[1:]))
    # While both still time, they alternate: no member times two blocks in a row.
    both = min(max(s for s, _, v in blocks if v == variant) for variant in latency)
    owners = [v for s, _, v in blocks if s <= both]
    assert all(a != b for a, b in zip(owners, owners[1:])), owners


def test_without_side_by_side_variants_run_one_after_the_other(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = run_cli(["run", "--models", "dlrm", "--modes", "eval", "--precisions", "fp32",
                    "--variants", "eager", "compile", "--cores", "0", "--threads", "1",
                    "--tiny", "--quick", "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = load_results(out)
    assert results.environ["side_by_side"] is False
    latency = {r.variant: r for r in results.results if r.metric == "latency_p50"}
    (eager_block,) = latency["eager"].config["instance_runtime"][0]["timed_blocks"]
    (compile_block,) = latency["compile"].config["instance_runtime"][0]["timed_blocks"]
    assert eager_block[1] <= compile_block[0]


def test_side_by_side_a_failing_member_leaves_the_other_its_turns(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = run_cli(["run", "--models", "dlrm", "--modes", "eval", "--precisions", "fp32",
                    "--variants", "eager", "optlib", "--side-by-side", "--cores", "0", "--threads", "1",
                    "--tiny", "--quick", "--out", str(out)], tmp_path, planted_failure(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    latency = {r.variant: r for r in load_results(out).results if r.metric == "latency_p50"}
    assert latency["eager"].status == "failed" and "planted failure in dlrm" in latency["eager"].error
    assert latency["optlib"].status == "ok" and latency["optlib"].samples


def test_side_by_side_a_member_that_hangs_fails_alone(tmp_path: Path) -> None:
    """Eager DLRM hangs in its turn: it is killed once its own turns outlast the timeout,
    and the benchmark beside it still gets its turns and its figures."""
    out = tmp_path / "results.json"
    proc = run_cli(["run", "--models", "dlrm", "gcn", "--modes", "eval", "--precisions", "fp32",
                    "--variants", "eager", "--side-by-side", "--side-by-side-sets", "2",
                    "--cores", "0", "--threads", "1", "--tiny", "--quick", "--timeout", "10",
                    "--out", str(out)], tmp_path, planted(tmp_path, "time.sleep(3600)"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    latency = {r.model: r for r in load_results(out).results if r.metric == "latency_p50"}
    assert latency["dlrm"].status == "failed"
    assert latency["dlrm"].error == ("timed out after 10s of its own turns "
                                     "(side by side with 1 other benchmark(s))")
    assert latency["gcn"].status == "ok" and latency["gcn"].samples


def test_side_by_side_sets_put_several_models_in_one_round_robin(tmp_path: Path) -> None:
    """Two models' comparison sets in one group (which implies side by side): all four
    benchmarks take turns, one block each per round, so each one's timing spreads over the
    whole group's. A benchmark may end early, at its iteration cap (tiny models are fast);
    the others go on taking turns."""
    out = tmp_path / "results.json"
    proc = run_cli(["run", "--models", "dlrm", "gcn", "--modes", "eval", "--precisions", "fp32",
                    "--variants", "eager", "optlib", "--side-by-side-sets", "2",
                    "--cores", "0", "--threads", "1", "--tiny", "--batch-size", "256",
                    "--time-budget", "1.5", "--warmup-max", "0.5", "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = load_results(out)
    assert results.environ["side_by_side"] is True and results.environ["side_by_side_sets"] == 2
    latency = {r.benchmark: r for r in results.results if r.metric == "latency_p50"}
    assert len(latency) == 4
    for name, row in latency.items():
        assert sorted(row.config["side_by_side_with"]) == sorted(set(latency) - {name})
    blocks = sorted((start, end, name) for name, row in latency.items()
                    for start, end in row.config["instance_runtime"][0]["timed_blocks"])
    assert all(end <= next_start for (_, end, _), (next_start, _, _) in zip(blocks, blocks[1:]))
    starts = {name: [s for s, _, n in blocks if n == name] for name in latency}
    assert all(len(own) >= 2 for own in starts.values()), starts
    # Between two turns of one benchmark, each other benchmark still timing had one turn.
    for name, own in starts.items():
        for turn, next_turn in zip(own, own[1:]):
            for other, theirs in starts.items():
                if other != name and theirs[-1] > next_turn:
                    assert sum(turn < s < next_turn for s in theirs) == 1, (name, other, blocks)


@pytest.mark.parametrize(("args", "message"), [
    (["--side-by-side-sets", "0"], "side_by_side_sets must be >= 1, got 0"),
    (["--side-by-side-sets", "2", "--no-side-by-side"],
     "side_by_side_sets=2 asks for groups timed side by side, and side by side timing is off"),
])
def test_side_by_side_sets_bad_values_are_errors(args: list[str], message: str, tmp_path: Path) -> None:
    proc = run_cli(["run", "--models", "dlrm", *args, "--tiny", "--quick",
                    "--out", str(tmp_path / "r.json")], tmp_path)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "r.json").exists()

