"""Accuracy against eager fp32: the measures a wrong optimization cannot hide from."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmarks.accuracy import SQNR_CAP_DB, max_relative_error, sqnr_db


def test_max_relative_error_is_scaled_by_the_largest_reference_value() -> None:
    ref = (torch.tensor([10.0, -2.0, 0.0]), torch.tensor([[1.0]]))
    got = (torch.tensor([10.0, -2.5, 0.0]), torch.tensor([[1.0]]))
    assert max_relative_error(got, ref) == pytest.approx(0.05)
    assert max_relative_error(ref, ref) == 0.0


def test_outputs_from_other_runtimes_compare_as_tensors() -> None:
    ref = torch.arange(6.0).reshape(2, 3)
    assert max_relative_error([np.arange(6.0, dtype=np.float32).reshape(2, 3)], ref) == 0.0


def test_sqnr_matches_its_definition() -> None:
    gen = torch.Generator().manual_seed(0)
    ref = torch.randn(1000, generator=gen)
    noise = 0.1 * torch.randn(1000, generator=gen)
    want = 10 * math.log10(ref.pow(2).sum().item() / noise.pow(2).sum().item())
    assert sqnr_db(ref + noise, ref) == pytest.approx(want, rel=1e-6)
    assert sqnr_db(ref, ref) == SQNR_CAP_DB


@pytest.mark.parametrize("measure", [max_relative_error, sqnr_db])
def test_shape_mismatch_and_nan_are_errors(measure) -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        measure(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        measure(torch.tensor([math.nan, 1.0]), torch.ones(2))
