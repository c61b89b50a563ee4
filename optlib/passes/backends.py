"""Optional runtimes (ONNX Runtime, OpenVINO) wrapped as plain callables over torch tensors.

On some CNNs these runtimes reach a higher fraction of the machine's matmul roof than any
torch path, so optlib offers them to its measurement step when they are installed (the
``backends`` extra). They run a graph exported for the sample input's shapes: the caller
(:class:`optlib.OptimizedModule`) sends other shapes to the eager module instead. Both can
read one ONNX export (:func:`export_onnx`), so the race exports once for the two.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, MutableMapping
from typing import Any

import numpy as np
import torch
from torch import nn

from optlib._log import logger
from optlib.launch.plan import PRELOADED_ALLOCATOR_ENV
from optlib.passes.compilers import as_args, quiet_torchscript


def available(backend: str) -> bool:
    module = {"onnxruntime": "onnxruntime", "openvino": "openvino"}[backend]
    return importlib.util.find_spec(module) is not None


def _tensor_args(sample_input: Any) -> tuple[torch.Tensor, ...]:
    args = as_args(sample_input)
    if not all(isinstance(a, torch.Tensor) for a in args):
        raise TypeError("exported runtimes take positional tensor inputs only")
    return args


def _outputs(arrays: list[np.ndarray], single: bool):
    tensors = tuple(torch.from_numpy(np.array(a, copy=True)) for a in arrays)
    return tensors[0] if single else tensors


def _output_is_single(module: nn.Module, args: tuple) -> bool:
    with torch.no_grad():
        out = module(*args)
    if isinstance(out, torch.Tensor):
        return True
    if isinstance(out, tuple) and all(isinstance(t, torch.Tensor) for t in out):
        return False
    raise TypeError(f"exported runtimes return tensors or tuples of tensors, the model returns {type(out).__name__}")


def export_onnx(module: nn.Module, sample_input: Any) -> bytes:
    """``module`` exported for the sample input's shapes by the dynamo exporter, as ONNX bytes.

    The exporter's own graph optimizer runs only where a BatchNorm is left: without it ONNX
    Runtime ran an unfolded resnet18 at half speed (321 against 165 ms), while on graphs with
    no BatchNorm (optlib folds them first; BERT-base, GPT-small, folded resnet18 and
    MobileNetV3) both runtimes ran the unoptimized export as fast, and the optimizer took 2.2-4.2
    s of BERT-base's 8.1-10.1 s export.
    """
    args = _tensor_args(sample_input)
    optimize = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
    program = torch.onnx.export(module, args, dynamo=True, verbose=False, optimize=optimize)
    return program.model_proto.SerializeToString()


def build_onnxruntime(module: nn.Module, sample_input: Any, dtype: torch.dtype | None = None,
                      exported: Callable[[], bytes] | None = None) -> Callable:
    """Run ``module`` in an ONNX Runtime CPU session (fp32 only), from ``exported()`` where it
    is given, else from a fresh :func:`export_onnx`."""
    import onnxruntime as ort

    if dtype not in (None, torch.float32):
        raise ValueError(f"ONNX Runtime route supports float32 only, not {dtype}")
    args = _tensor_args(sample_input)
    single = _output_is_single(module, args)
    model_bytes = exported() if exported is not None else export_onnx(module, args)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ORT's pool spins after each run by default, stealing the cores that torch's own OpenMP
    # threads (and the user's other work) need on a small machine.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(*inputs: torch.Tensor):
        feed = {n: t.detach().contiguous().numpy() for n, t in zip(names, inputs)}
        return _outputs(session.run(None, feed), single)

    return run


def allow_preloaded_allocator(environ: MutableMapping[str, str] = os.environ) -> None:
    """Where the process runs with a preloaded allocator (LD_PRELOAD: jemalloc, tcmalloc, as
    Intel's CPU tuning guides advise), let oneTBB load its hwloc binding without
    RTLD_DEEPBIND. With deep binding, hwloc frees with glibc's free() memory the preloaded
    allocator handed out, and the process aborts ("free(): invalid pointer") the moment
    OpenVINO starts its CPU plugin. oneTBB reads the variable when it loads the binding,
    so it must be set before the first OpenVINO core is made; a value the user set is kept.
    """
    if environ.get("LD_PRELOAD"):
        for key, value in PRELOADED_ALLOCATOR_ENV.items():
            environ.setdefault(key, value)


def build_openvino(module: nn.Module, sample_input: Any, dtype: torch.dtype | None = None,
                   exported: Callable[[], bytes] | None = None) -> Callable:
    """Run ``module`` in OpenVINO, fp32 inference precision unless bf16 asked.

    From the ONNX bytes ``exported()`` gives, where it is given and the export worked: reading
    them took 0.2-1.8 s where OpenVINO's PyTorch frontend took 3.8-7.2 s to convert the same
    models (2 threads), they ran as fast, and GPT-small, which the frontend cannot trace,
    exports. Otherwise the PyTorch frontend converts ``module``.
    """
    allow_preloaded_allocator()
    import openvino as ov

    args = _tensor_args(sample_input)
    single = _output_is_single(module, args)
    model = None
    if exported is not None:
        try:
            model = ov.Core().read_model(exported())
        except Exception as exc:  # the PyTorch frontend may still convert what did not export
            logger.debug("openvino: no ONNX export to read (%s); converting from PyTorch", exc)
    if model is None:
        with torch.no_grad(), quiet_torchscript():
            model = ov.convert_model(module, example_input=args)
    precision = "bf16" if dtype == torch.bfloat16 else "f32"
    config = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": str(torch.get_num_threads()),
        "INFERENCE_PRECISION_HINT": precision,
        # A library must not pin threads of the user's process: the caller (or optlib's
        # launcher) owns core binding, and pinned workers collide with other processes.
        "ENABLE_CPU_PINNING": "NO",
    }
    compiled = ov.Core().compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    count = len(compiled.outputs)

    def run(*inputs: torch.Tensor):
        request.infer([t.detach().contiguous().numpy() for t in inputs])
        return _outputs([request.get_output_tensor(i).data for i in range(count)], single)

    return run
