"""The build function shared by the image classifiers."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.models import BuildOptions, Workload

_CLASSES = 1000


def build_classifier(make_net: Callable[[bool], object], options: BuildOptions) -> Workload:
    import torch

    from benchmarks.models._common import classification_loss, generator, image_batch

    torch.manual_seed(options.seed)
    size = 32 if options.tiny else 224
    net = make_net(options.tiny)
    labels = torch.randint(0, _CLASSES if not options.tiny else 10, (options.batch_size,),
                           generator=generator(options.seed + 1))
    return Workload(
        model=net,
        inputs=(image_batch(options.batch_size, size, options.seed),),
        batch_size=options.batch_size,
        samples_per_batch=options.batch_size,
        loss=classification_loss(labels),
        calibration=lambda i: (image_batch(options.batch_size, size, options.seed + 100 + i),),
    )
