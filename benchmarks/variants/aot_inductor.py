"""AOT Inductor: ``torch.export``, compiled and packaged ahead of time, loaded back and run,
as a deployment without Python model code would do."""

from __future__ import annotations

import os
from typing import Any

from benchmarks.variants import Context, Prepared, VariantSpec


def prepare_eval(workload: Any, context: Context) -> Prepared:
    import torch

    from benchmarks.variants._common import autocast, eval_prepared, to_channels_last

    model = to_channels_last(workload.model.eval(), context)
    with torch.no_grad(), autocast(context.precision):
        exported = torch.export.export(model, workload.inputs)
        package = torch._inductor.aoti_compile_and_package(
            exported, package_path=os.path.join(context.workdir, "model.pt2"))
    runner = torch._inductor.aoti_load_package(package)
    return eval_prepared(runner, workload.inputs, "fp32", {"package": "model.pt2"})


VARIANT = VariantSpec(
    name="aot-inductor", description="torch.export + AOT Inductor package, loaded and run",
    modes=("eval",), precisions=("fp32", "bf16"), prepare_eval=prepare_eval,
)
