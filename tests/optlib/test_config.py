from __future__ import annotations

import json

import pytest
import torch

from optlib import OptimizeConfig

KNOBS = ("conv_bn_folding", "linear_bn_folding", "replace_dropout_with_identity", "channels_last",
         "weights_prepack", "graph_mode", "sparse_gnn", "split_master_weight_for_bf16", "fuse_update_step",
         "retain_freed_memory")


@pytest.mark.parametrize("level, expected", [("O0", False), ("O1", True)])
def test_level_decides_every_knob_left_none(level, expected):
    resolved = OptimizeConfig(level=level).resolved()
    assert all(getattr(resolved, k) is expected for k in KNOBS)


def test_explicit_knob_beats_level():
    resolved = OptimizeConfig(level="O1", channels_last=False, graph_mode=False).resolved()
    assert resolved.channels_last is False and resolved.graph_mode is False and resolved.conv_bn_folding is True


@pytest.mark.parametrize("config", [
    OptimizeConfig(),
    OptimizeConfig(level="O0", dtype=torch.bfloat16, backend="torchscript", tune_seconds=0.5),
    OptimizeConfig(dtype="bfloat16", weights_prepack=False).resolved(),
])
def test_round_trips_through_json(config):
    data = json.loads(json.dumps(config.to_dict()))
    assert OptimizeConfig.from_dict(data) == config


@pytest.mark.parametrize("kwargs, match", [
    ({"level": "O3"}, "unsupported level 'O3'; supported: O0, O1"),
    ({"dtype": torch.float16}, "unsupported dtype .*supported: None, .*bfloat16"),
    ({"dtype": "int8"}, "unsupported dtype 'int8'"),
    ({"backend": "tensorrt"}, "unsupported backend 'tensorrt'; supported: auto"),
    ({"channels_last": "yes"}, "channels_last must be True, False or None"),
    ({"tune_seconds": 0}, "tune_seconds must be a positive number"),
])
def test_invalid_fields_are_rejected_with_what_is_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OptimizeConfig(**kwargs)


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown OptimizeConfig fields \\['speed'\\]"):
        OptimizeConfig.from_dict({"speed": "max"})
