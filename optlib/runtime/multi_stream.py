"""MultiStreamModule: split a batch across streams, each running on its own cores.

Small batches leave many cores idle inside each operator (too little work to share); running
several sub-batches at once, each on a few cores of its own, keeps them busy. The streams
share the model's weights: each stream is a thread calling the same module, pinned with its
OpenMP team to its part of the pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import Tensor, nn

from optlib.runtime.affinity import bind_current_thread
from optlib.runtime.pool import CPUPool

__all__ = ["MultiStreamModule"]


def _split(value: Any, batch: int, parts: int) -> list[Any]:
    """``parts`` slices of every tensor whose first dimension is the batch; others repeated."""
    if isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == batch:
        return list(torch.tensor_split(value, parts, dim=0))
    if isinstance(value, (list, tuple)):
        columns = [_split(v, batch, parts) for v in value]
        return [type(value)(c[i] for c in columns) for i in range(parts)]
    if isinstance(value, Mapping):
        columns = {k: _split(v, batch, parts) for k, v in value.items()}
        return [{k: c[i] for k, c in columns.items()} for i in range(parts)]
    return [value] * parts


def _join(outputs: Sequence[Any]) -> Any:
    first = outputs[0]
    if isinstance(first, Tensor):
        return torch.cat(list(outputs), dim=0) if first.dim() > 0 else torch.stack(list(outputs))
    if isinstance(first, (list, tuple)):
        return type(first)(_join([o[i] for o in outputs]) for i in range(len(first)))
    if isinstance(first, Mapping):
        return {k: _join([o[k] for o in outputs]) for k in first}
    raise TypeError(f"cannot join stream outputs of type {type(first).__name__}; supported: "
                    "Tensor and lists, tuples or dicts of them")


def _batch_size(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    for value in (*args, *kwargs.values()):
        if isinstance(value, Tensor) and value.dim() > 0:
            return value.shape[0]
    raise ValueError("MultiStreamModule needs at least one tensor input with a batch dimension")


class MultiStreamModule(nn.Module):
    """Run ``model`` on ``num_streams`` slices of each batch at once, each on its own cores.

    The output equals ``model(batch)`` (concatenated along dimension 0). A batch smaller than
    ``num_streams`` uses as many streams as it has samples. Call :meth:`close` (or use it as a
    context manager) to stop the stream threads.
    """

    def __init__(self, model: nn.Module, num_streams: int, cpu_pool: CPUPool) -> None:
        super().__init__()
        if not isinstance(num_streams, int) or not 1 <= num_streams <= len(cpu_pool):
            raise ValueError(f"num_streams must be an int in 1..{len(cpu_pool)} (the pool's "
                             f"cores), got {num_streams!r}")
        self.model = model
        self.num_streams = num_streams
        self.pools = cpu_pool.split(num_streams)
        self._executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"optlib-stream{i}",
                               initializer=bind_current_thread, initargs=(pool,))
            for i, pool in enumerate(self.pools)
        ]

    def _run(self, grad_enabled: bool, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # Grad mode is per thread in torch; carry the caller's into the stream.
        with torch.set_grad_enabled(grad_enabled):
            return self.model(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not self._executors:
            raise RuntimeError("this MultiStreamModule is closed")
        batch = _batch_size(args, kwargs)
        parts = min(self.num_streams, batch)
        arg_slices = _split(args, batch, parts)
        kwarg_slices = _split(kwargs, batch, parts)
        grad = torch.is_grad_enabled()
        futures = [self._executors[i].submit(self._run, grad, arg_slices[i], kwarg_slices[i])
                   for i in range(parts)]
        return _join([f.result() for f in futures])

    def close(self) -> None:
        for executor in self._executors:
            executor.shutdown(wait=True)
        self._executors = []

    def __enter__(self) -> "MultiStreamModule":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
