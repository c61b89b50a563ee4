"""How far a variant's output is from eager fp32's on the same input.

A fast wrong optimization must show up in the results, so every variant's output is
compared with the stock fp32 model's before timing. Two measures: the largest absolute
error relative to the reference's largest magnitude (elementwise relative error explodes on
outputs near zero, which every network has), and for INT8, where errors are expected, the
signal-to-quantization-noise ratio in dB as quantization literature reports it.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from benchmarks.variants._common import flatten_tensors

SQNR_CAP_DB = 200.0


def _pair(output: Any, reference: Any) -> tuple[torch.Tensor, torch.Tensor]:
    got = [t.reshape(-1) for t in flatten_tensors(output)]
    want = [t.reshape(-1) for t in flatten_tensors(reference)]
    if [t.numel() for t in got] != [t.numel() for t in want]:
        raise ValueError(f"output shapes differ from eager: {[t.numel() for t in got]} "
                         f"elements vs {[t.numel() for t in want]}")
    return torch.cat(got), torch.cat(want)


def max_relative_error(output: Any, reference: Any) -> float:
    got, want = _pair(output, reference)
    scale = want.abs().max().item()
    err = (got - want).abs().max().item()
    if not math.isfinite(err):
        raise ValueError("output holds NaN or infinity")
    return err / scale if scale > 0 else err


def sqnr_db(output: Any, reference: Any) -> float:
    got, want = _pair(output, reference)
    noise = (got - want).double().pow(2).sum().item()
    signal = want.double().pow(2).sum().item()
    if not math.isfinite(noise):
        raise ValueError("output holds NaN or infinity")
    if noise == 0:
        return SQNR_CAP_DB
    if signal == 0:
        return -SQNR_CAP_DB
    return max(-SQNR_CAP_DB, min(SQNR_CAP_DB, 10 * math.log10(signal / noise)))
