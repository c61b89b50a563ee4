"""OpenVINO's CPU plugin on the converted model: the other runtime users pick for Intel-style
CPU inference, kept for cross-comparison (optional extra).

The model converts through OpenVINO's PyTorch frontend; where that frontend lacks an op
(EmbeddingBag), through the ONNX export instead, as a user would fall back.
"""

from __future__ import annotations

import os
from typing import Any

from benchmarks.variants import Context, Prepared, VariantSpec

_PRECISION_HINT = {"fp32": "f32", "bf16": "bf16"}


def prepare_eval(workload: Any, context: Context) -> Prepared:
    import openvino as ov
    import torch

    model = workload.model.eval()
    route = "pytorch-frontend"
    try:
        with torch.no_grad():
            converted = ov.convert_model(model, example_input=workload.inputs)
    except Exception:  # noqa: BLE001 - some ops (EmbeddingBag) only convert through ONNX
        route = "onnx"
        path = os.path.join(context.workdir, "model.onnx")
        with torch.no_grad():
            torch.onnx.export(model, workload.inputs, path, dynamo=True, external_data=True)
        converted = ov.convert_model(path)
    # The precision is pinned: on CPUs with bf16 support OpenVINO may otherwise pick bf16 for
    # an "fp32" run, which would compare different arithmetic.
    properties = {"INFERENCE_NUM_THREADS": context.threads,
                  "INFERENCE_PRECISION_HINT": _PRECISION_HINT[context.precision],
                  "PERFORMANCE_HINT": "LATENCY"}
    compiled = ov.Core().compile_model(converted, "CPU", properties)
    request = compiled.create_infer_request()
    arrays = [t.numpy() for t in workload.inputs]

    def forward(*args: Any) -> list[Any]:
        result = request.infer([a.numpy() for a in args])
        return [result[out] for out in compiled.outputs]

    config = {"openvino_version": ov.__version__, "conversion": route,
              **{k: str(v) for k, v in properties.items()}}
    return Prepared(run=lambda: request.infer(arrays), config=config, forward=forward)


VARIANT = VariantSpec(
    name="openvino", description="OpenVINO CPU plugin on the converted model (optional)",
    modes=("eval",), precisions=("fp32", "bf16"), requires=("openvino",),
    prepare_eval=prepare_eval,
)
