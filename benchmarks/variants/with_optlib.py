"""optlib's one-call optimization: ``optlib.optimize`` on the model (and its optimizer when
training), plus the model's own optlib rewrite (fused modules) where it has one.

optlib is imported inside the prepare functions: when it is missing or broken, the
benchmark records that error and the suite goes on.
"""

from __future__ import annotations

import copy
from typing import Any

from benchmarks.variants import Context, Prepared, VariantSpec


def _dtype(precision: str) -> Any:
    import torch

    return torch.bfloat16 if precision == "bf16" else None


def _knobs(context: Context) -> dict[str, Any]:
    return {"channels_last": True} if context.channels_last else {}


def _config(dtype: Any, knobs: dict[str, Any]) -> dict[str, Any]:
    """optlib's resolved configuration, as stored with the result."""
    import optlib

    config = optlib.OptimizeConfig(dtype=dtype, **knobs)
    resolved = config.resolved() if hasattr(config, "resolved") else config
    out = resolved.to_dict()
    out["optlib_version"] = getattr(optlib, "__version__", None)
    return out


def _choice(optimized: Any) -> dict[str, Any]:
    """What optlib chose on this machine (its backend is picked by measurement), so that a
    change in a series can be traced to a different choice rather than different code."""
    out: dict[str, Any] = {"chosen_backend": getattr(optimized, "backend", None)}
    report = getattr(optimized, "tune_report", None)
    if report is not None:
        out["tune_report"] = report.to_dict() if hasattr(report, "to_dict") else str(report)
    return out


def rewritten(workload: Any, model: Any) -> Any:
    """A copy of ``model`` with the workload's optlib rewrite applied (the model itself when
    it has none): every optlib variant measures the same optlib modules."""
    if workload.optlib_rewrite is None:
        return model
    return workload.optlib_rewrite(copy.deepcopy(model))


def prepare_eval(workload: Any, context: Context) -> Prepared:
    import optlib

    from benchmarks.variants._common import eval_prepared

    dtype, knobs = _dtype(context.precision), _knobs(context)
    model = rewritten(workload, workload.model.eval())
    optimized = optlib.optimize(model, dtype=dtype, sample_input=workload.inputs, **knobs)
    config = _config(dtype, knobs)
    config.update(_choice(optimized))
    return eval_prepared(optimized, workload.inputs, context.precision, config)


def prepare_train(workload: Any, context: Context) -> Prepared:
    import optlib

    from benchmarks.variants._common import make_optimizer, train_step

    dtype, knobs = _dtype(context.precision), _knobs(context)
    model = rewritten(workload, workload.model.train())
    model, optimizer = optlib.optimize(model, optimizer=make_optimizer(model, workload.optimizer),
                                       dtype=dtype, **knobs)
    step = train_step(model, optimizer, workload.loss, workload.inputs, context.precision)
    config = _config(dtype, knobs)
    config["optimizer"] = type(optimizer).__name__
    return Prepared(run=step, config=config)


def prepare_generate(workload: Any, context: Context) -> Prepared:
    import optlib

    from benchmarks.variants._common import generate_prepared

    dtype, knobs = _dtype(context.precision), _knobs(context)
    optimized = optlib.optimize(workload.generation_model.eval(), dtype=dtype, **knobs)
    return generate_prepared(optimized, workload, context.precision, _config(dtype, knobs))


VARIANT = VariantSpec(
    name="optlib", description="optlib.optimize (O1), with the model's optlib modules",
    modes=("eval", "train", "generate"), precisions=("fp32", "bf16"),
    prepare_eval=prepare_eval, prepare_train=prepare_train, prepare_generate=prepare_generate,
)
