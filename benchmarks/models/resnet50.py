"""ResNet-50: the reference CNN of CPU inference reports (conv-bound, 4.1 GMACs = 8.2 GFLOP per image)."""

from __future__ import annotations

from benchmarks.models import BuildOptions, ModelSpec, Workload
from benchmarks.models._vision import build_classifier


def _net(tiny: bool) -> object:
    from benchmarks.models._nets.resnet import resnet50

    return resnet50(num_classes=10, base_width=8) if tiny else resnet50()


def build(options: BuildOptions) -> Workload:
    return build_classifier(_net, options)


MODEL = ModelSpec(name="resnet50", family="cnn", description="ResNet-50, 224x224 images",
                  build=build, eval_batch=8, train_batch=8, offline_batch=64)
