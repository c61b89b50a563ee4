"""ResNet-18: a small CNN (1.8 GMACs = 3.6 GFLOP per image) for the quick suites."""

from __future__ import annotations

from benchmarks.models import BuildOptions, ModelSpec, Workload
from benchmarks.models._vision import build_classifier


def _net(tiny: bool) -> object:
    from benchmarks.models._nets.resnet import resnet18

    return resnet18(num_classes=10, base_width=8) if tiny else resnet18()


def build(options: BuildOptions) -> Workload:
    return build_classifier(_net, options)


MODEL = ModelSpec(name="resnet18", family="cnn", description="ResNet-18, 224x224 images",
                  build=build, eval_batch=8, train_batch=8, offline_batch=64)
