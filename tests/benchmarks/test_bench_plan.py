"""Planning: core lists, instances per scenario, the supported matrix, unknown names."""

from __future__ import annotations

import pytest

from benchmarks.models import all_models
from benchmarks.plan import BenchmarkSpec, InstancePlan, Selection, batch_for, expand, plan_instances
from benchmarks.runner import RunOptions, launcher_command, planned
from benchmarks.variants import all_variants


PLANS = [
    # scenario, cores, threads, instances -> [(cores, threads), ...]
    ("default", range(2), None, None, [((0, 1), 2)]),
    ("offline", range(8), None, None, [(tuple(range(8)), 8)]),
    ("realtime", range(8), None, None, [((0, 1, 2, 3), 4), ((4, 5, 6, 7), 4)]),
    ("realtime", range(2), None, None, [((0, 1), 2)]),
    ("realtime", range(10), None, None, [((0, 1, 2, 3), 4), ((4, 5, 6, 7), 4)]),
    ("default", range(4), 1, 2, [((0, 1), 1), ((2, 3), 1)]),
    ("default", (5,), None, None, [((5,), 1)]),
]


@pytest.mark.parametrize(("scenario", "cores", "threads", "instances", "want"), PLANS)
def test_plan_instances(scenario: str, cores: range, threads: int | None,
                        instances: int | None, want: list[tuple[tuple[int, ...], int]]) -> None:
    got = plan_instances(scenario, tuple(cores), threads, instances)
    assert got == [InstancePlan(c, t) for c, t in want]


def test_plan_instances_rejects_more_instances_than_cores() -> None:
    with pytest.raises(ValueError, match="--instances"):
        plan_instances("default", (0, 1), None, 3)


def test_scenario_batches() -> None:
    spec = all_models()["resnet50"]
    assert batch_for("resnet50", "eval", "realtime", None) == 1
    assert batch_for("resnet50", "eval", "offline", None) == spec.offline_batch
    assert batch_for("resnet50", "train", "default", None) == spec.train_batch
    assert batch_for("resnet50", "eval", "offline", 3) == 3


def test_matrix_respects_what_models_and_variants_support() -> None:
    combos = expand(Selection())
    assert ("resnet50", "eval", "int8", "optlib-int8") in combos
    assert ("gpt_small", "generate", "fp32", "eager") in combos
    assert not [c for c in combos if c[2] == "int8" and c[3] != "optlib-int8"]
    assert not [c for c in combos if c[1] == "generate" and c[0] != "gpt_small"]
    assert not [c for c in combos if c[1] == "train" and c[3] in ("onnxruntime", "openvino",
                                                                  "aot-inductor")]
    assert {c[3] for c in combos} == set(all_variants())
    assert {c[0] for c in combos} == set(all_models())


@pytest.mark.parametrize(("field", "value", "known"), [
    ("models", ("resnet51",), "resnet50"),
    ("modes", ("inference",), "eval"),
    ("precisions", ("fp16",), "bf16"),
    ("variants", ("tensorrt",), "optlib-int8"),
])
def test_unknown_names_list_the_known_ones(field: str, value: tuple[str, ...], known: str
                                           ) -> None:
    with pytest.raises(ValueError, match=rf"unknown {field[:-1]} '{value[0]}'; known: .*{known}"):
        Selection(**{field: value})


def test_ci_suite_covers_every_family_eager_and_optlib_and_training() -> None:
    combos = planned(RunOptions(suite="ci"))
    families = {all_models()[c[0]].family for c in combos if c[1] == "eval"}
    assert families == {"cnn", "transformer", "recsys", "gnn"}
    for model in {c[0] for c in combos if c[1] == "eval"}:
        assert (model, "eval", "fp32", "eager") in [c[:4] for c in combos]
        assert (model, "eval", "fp32", "optlib") in [c[:4] for c in combos]
    assert any(c[1] == "train" for c in combos)


def test_suite_filtered_by_selection_and_empty_selection_is_an_error() -> None:
    combos = planned(RunOptions(suite="ci", selection=Selection(variants=("eager",))))
    assert combos and {c[3] for c in combos} == {"eager"}
    with pytest.raises(ValueError, match="nothing to run"):
        planned(RunOptions(suite="ci", selection=Selection(models=("edgecnn",))))


def test_spec_round_trips_through_its_dict() -> None:
    spec = BenchmarkSpec(model="dlrm", mode="eval", precision="fp32", variant="eager",
                         batch_size=4, threads=2, cores=(0, 1), tiny=True)
    assert BenchmarkSpec.from_dict(spec.to_dict()) == spec


def test_launcher_command_runs_every_instance_on_the_planned_cores() -> None:
    plans = plan_instances("realtime", tuple(range(8)), None, None)
    cmd = launcher_command(plans, ["child.py", "--spec", "s.json"])
    assert cmd[1:3] == ["-m", "optlib.launch"]
    assert cmd[cmd.index("--ninstances") + 1] == "2"
    assert cmd[cmd.index("--ncores-per-instance") + 1] == "4"
    assert cmd[cmd.index("--core-list") + 1] == "0-7"
    assert cmd[-3:] == ["child.py", "--spec", "s.json"]
