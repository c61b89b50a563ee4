"""``torch.compile`` with its defaults (inductor): what a user tries first after eager."""

from __future__ import annotations

from typing import Any

from benchmarks.variants import Context, Prepared, VariantSpec


def prepare_eval(workload: Any, context: Context) -> Prepared:
    import torch

    from benchmarks.variants._common import eval_prepared, to_channels_last

    model = to_channels_last(workload.model.eval(), context)
    return eval_prepared(torch.compile(model), workload.inputs, context.precision,
                         {"backend": "inductor", "mode": "default"})


def prepare_train(workload: Any, context: Context) -> Prepared:
    import torch

    from benchmarks.variants._common import make_optimizer, to_channels_last, train_step

    model = to_channels_last(workload.model.train(), context)
    optimizer = make_optimizer(model, workload.optimizer)
    step = train_step(torch.compile(model), optimizer, workload.loss, workload.inputs,
                      context.precision)
    return Prepared(run=step, config={"backend": "inductor", "mode": "default",
                                      "optimizer": type(optimizer).__name__})


def prepare_generate(workload: Any, context: Context) -> Prepared:
    import torch

    from benchmarks.variants._common import generate_prepared

    # The cache grows by one token per step: dynamic shapes avoid one compile per length.
    module = torch.compile(workload.generation_model.eval(), dynamic=True)
    return generate_prepared(module, workload, context.precision,
                             {"backend": "inductor", "mode": "default", "dynamic": True})


VARIANT = VariantSpec(
    name="compile", description="torch.compile (inductor, default mode)",
    modes=("eval", "train", "generate"), precisions=("fp32", "bf16"),
    prepare_eval=prepare_eval, prepare_train=prepare_train, prepare_generate=prepare_generate,
)
