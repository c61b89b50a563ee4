"""optlib's static INT8 flow on the model with optlib's rewrite: prepare, calibrate on batches
other than the timed one, convert."""

from __future__ import annotations

import copy
from typing import Any

from benchmarks.variants import Context, Prepared, VariantSpec

CALIBRATION_BATCHES = 4


def prepare_eval(workload: Any, context: Context) -> Prepared:
    import optlib
    import optlib.quantization
    import torch

    from benchmarks.variants._common import eval_prepared
    from benchmarks.variants.with_optlib import rewritten

    # The same optlib modules as the fp32 optlib variant (DLRM: merged tables, optlib's
    # interaction), then quantized.
    model = rewritten(workload, copy.deepcopy(workload.model)).eval()
    with torch.no_grad():
        prepared = optlib.quantization.prepare(model, workload.inputs)
        for i in range(CALIBRATION_BATCHES):
            prepared(*workload.calibration(i))
        quantized = optlib.quantization.convert(prepared)
    config = {"calibration_batches": CALIBRATION_BATCHES, "optlib_rewrite": workload.optlib_rewrite is not None,
              "optlib_version": getattr(optlib, "__version__", None)}
    return eval_prepared(quantized, workload.inputs, "int8", config)


VARIANT = VariantSpec(
    name="optlib-int8", description="optlib static INT8 (prepare, calibrate, convert)",
    modes=("eval",), precisions=("int8",), prepare_eval=prepare_eval,
)
