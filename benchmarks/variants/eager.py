"""Stock PyTorch eager mode: the baseline every other variant is compared with."""

from __future__ import annotations

from typing import Any

from benchmarks.variants import Context, Prepared, VariantSpec


def prepare_eval(workload: Any, context: Context) -> Prepared:
    from benchmarks.variants._common import eval_prepared, to_channels_last

    model = to_channels_last(workload.model.eval(), context)
    return eval_prepared(model, workload.inputs, context.precision, {})


def prepare_train(workload: Any, context: Context) -> Prepared:
    from benchmarks.variants._common import make_optimizer, to_channels_last, train_step

    model = to_channels_last(workload.model.train(), context)
    optimizer = make_optimizer(model, workload.optimizer)
    step = train_step(model, optimizer, workload.loss, workload.inputs, context.precision)
    return Prepared(run=step, config={"optimizer": type(optimizer).__name__})


def prepare_generate(workload: Any, context: Context) -> Prepared:
    from benchmarks.variants._common import generate_prepared

    return generate_prepared(workload.generation_model.eval(), workload, context.precision, {})


VARIANT = VariantSpec(
    name="eager", description="stock PyTorch eager (the baseline)",
    modes=("eval", "train", "generate"), precisions=("fp32", "bf16"),
    prepare_eval=prepare_eval, prepare_train=prepare_train, prepare_generate=prepare_generate,
    baseline=True,
)
