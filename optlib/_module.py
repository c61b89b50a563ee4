"""``OptimizedModule``: what :func:`optlib.optimize` returns for an inference model.

It holds the pass-transformed eager module (whose parameters are the ``state_dict``) and the
runner chosen for it (a frozen TorchScript graph, an inductor-compiled callable, an exported
runtime, or nothing), and it keeps the contract of the original module:

* inputs the runner was not built for (other shapes for shape-specialized runners), training
  mode, or a runner that fails at call time go to the eager module, with one warning for a
  failure, so the model always runs;
* loading a ``state_dict`` rebuilds the runner, whose weights are frozen copies;
* bf16 runs under ``torch.autocast("cpu", dtype=torch.bfloat16)``; channels-last models get
  their 4-D inputs converted at the boundary.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from optlib._log import warn_once
from optlib.passes.autotune import TuneReport
from optlib.passes.compilers import autocast_context
from optlib.passes.layout import input_to_channels_last


def input_signature(args: tuple, kwargs: dict) -> tuple | None:
    """Shapes and dtypes of tensor arguments; ``None`` if anything else is passed."""
    if kwargs or not all(isinstance(a, torch.Tensor) for a in args):
        return None
    return tuple((tuple(a.shape), a.dtype) for a in args)


class OptimizedModule(nn.Module):
    def __init__(
        self,
        module: nn.Module,
        *,
        backend: str = "eager",
        builder: Callable[[], Callable] | None = None,
        runner: Callable | None = None,
        signature: tuple | None = None,
        dtype: torch.dtype | None = None,
        channels_last: bool = False,
        tune_report: TuneReport | None = None,
        num_threads: int | None = None,
    ) -> None:
        super().__init__()
        self.module = module
        self.num_threads = num_threads
        self.backend = backend
        self.dtype = dtype
        self.channels_last = channels_last
        self.tune_report = tune_report
        self._builder = builder
        self._set_runner(runner)
        self._signature = signature
        self.register_load_state_dict_post_hook(OptimizedModule._invalidate_runner)
        self.train(module.training)

    @staticmethod
    def _invalidate_runner(module: "OptimizedModule", incompatible_keys) -> None:
        # Runners hold frozen copies of the weights; rebuild them from the loaded ones.
        module._set_runner(None)

    def _set_runner(self, runner: Callable | None) -> None:
        # Not a registered submodule: a compiled or scripted runner would otherwise put a
        # second copy of every weight into state_dict.
        object.__setattr__(self, "_runner", runner)

    def _get_runner(self, args: tuple, kwargs: dict) -> Callable | None:
        if self._builder is None or self.training:
            return None
        if self._signature is not None and input_signature(args, kwargs) != self._signature:
            return None
        if self._runner is None:
            try:
                self._set_runner(self._builder())
            except Exception as exc:
                self._fall_back(exc)
                return None
        return self._runner

    def _fall_back(self, exc: Exception) -> None:
        warn_once(
            f"graph_mode:{self.backend}",
            f"optlib: pass graph_mode ({self.backend}) failed and was disabled, the eager module runs instead: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
        )
        self._builder = None
        self._set_runner(None)
        self.backend = "eager"

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.channels_last:
            args = input_to_channels_last(args)
            kwargs = {k: input_to_channels_last(v) for k, v in kwargs.items()}
        grad = contextlib.nullcontext() if self.training else torch.no_grad()
        with grad, autocast_context(self.dtype), self._threads():
            runner = self._get_runner(args, kwargs)
            if runner is not None:
                try:
                    return runner(*args, **kwargs)
                except Exception as exc:
                    self._fall_back(exc)
            return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def _threads(self):
        """Run with the measured intra-op thread count (see ``autotune.thread_counts``)."""
        previous = torch.get_num_threads()
        if self.num_threads is None or self.num_threads == previous or self.training:
            yield
            return
        torch.set_num_threads(self.num_threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    def __getstate__(self):
        # Compiled runners (sessions, frozen graphs) cannot be copied or pickled, and a
        # builder closes over the original module; a copy runs its own eager module.
        state = dict(self.__dict__)
        state.update(_runner=None, _builder=None, _signature=None, backend="eager")
        return state

    def extra_repr(self) -> str:
        dtype = "float32" if self.dtype is None else str(self.dtype).removeprefix("torch.")
        threads = "" if self.num_threads is None else f", num_threads={self.num_threads}"
        return f"backend={self.backend}, dtype={dtype}, channels_last={self.channels_last}{threads}"
