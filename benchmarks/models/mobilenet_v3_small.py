"""A MobileNetV3-small-style net: depthwise convs, squeeze-excite, hard-swish; memory-bound."""

from __future__ import annotations

from benchmarks.models import BuildOptions, ModelSpec, Workload
from benchmarks.models._vision import build_classifier


def _net(tiny: bool) -> object:
    from benchmarks.models._nets.mobilenet import MobileNetV3Small

    return MobileNetV3Small(num_classes=10, width_mult=0.25) if tiny else MobileNetV3Small()


def build(options: BuildOptions) -> Workload:
    return build_classifier(_net, options)


MODEL = ModelSpec(name="mobilenet_v3_small", family="cnn",
                  description="MobileNetV3-small-style, 224x224 images",
                  build=build, eval_batch=16, train_batch=16, offline_batch=128)
