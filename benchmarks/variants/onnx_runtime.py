"""ONNX Runtime (CPU execution provider) on the dynamo ONNX export: a path users pick
instead of PyTorch for CPU inference, kept for cross-comparison (optional extra)."""

from __future__ import annotations

import os
from typing import Any

from benchmarks.variants import Context, Prepared, VariantSpec


def prepare_eval(workload: Any, context: Context) -> Prepared:
    import onnxruntime as ort
    import torch

    path = os.path.join(context.workdir, "model.onnx")
    model = workload.model.eval()
    with torch.no_grad():
        torch.onnx.export(model, workload.inputs, path, dynamo=True, external_data=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = context.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    if len(names) > len(workload.inputs):
        raise ValueError(f"exported graph wants {len(names)} inputs, model has "
                         f"{len(workload.inputs)}")
    arrays = [t.numpy() for t in workload.inputs]

    def forward(*args: Any) -> list[Any]:
        return session.run(None, dict(zip(names, (a.numpy() for a in args))))

    feeds = dict(zip(names, arrays))
    config = {"onnxruntime_version": ort.__version__, "exporter": "dynamo",
              "intra_op_num_threads": context.threads}
    return Prepared(run=lambda: session.run(None, feeds), config=config, forward=forward)


VARIANT = VariantSpec(
    name="onnxruntime", description="ONNX Runtime CPU on the dynamo ONNX export (optional)",
    modes=("eval",), precisions=("fp32",), requires=("onnxruntime", "onnx", "onnxscript"),
    prepare_eval=prepare_eval,
)
