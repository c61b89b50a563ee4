"""BN folding: every conv flavour folds exactly; a pattern whose preconditions fail is skipped."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optlib.passes import fold_conv_bn, fold_linear_bn
from tests.optlib.models import _randomize_bn


class ConvBN(nn.Module):
    def __init__(self, conv: nn.Module, bn: nn.Module) -> None:
        super().__init__()
        self.conv, self.bn = conv, bn

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class ConvOutputReused(ConvBN):
    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow defeats symbolic tracing
            return self.body(x)
        return self.body(-x)


CASES = [
    ("conv2d", lambda: nn.Conv2d(3, 8, 3), lambda: nn.BatchNorm2d(8), (2, 3, 9, 9)),
    ("no bias", lambda: nn.Conv2d(3, 8, 3, bias=False), lambda: nn.BatchNorm2d(8), (2, 3, 9, 9)),
    ("grouped", lambda: nn.Conv2d(4, 8, 3, groups=2), lambda: nn.BatchNorm2d(8), (2, 4, 9, 9)),
    ("depthwise", lambda: nn.Conv2d(8, 8, 3, groups=8, bias=False), lambda: nn.BatchNorm2d(8), (2, 8, 9, 9)),
    ("affine=False", lambda: nn.Conv2d(3, 8, 1), lambda: nn.BatchNorm2d(8, affine=False), (2, 3, 9, 9)),
    ("conv1d", lambda: nn.Conv1d(3, 8, 3), lambda: nn.BatchNorm1d(8), (2, 3, 11)),
    ("conv3d", lambda: nn.Conv3d(3, 4, 3), lambda: nn.BatchNorm3d(4), (1, 3, 5, 6, 6)),
]


@pytest.mark.parametrize("name, conv, bn, shape", CASES, ids=[c[0] for c in CASES])
def test_conv_bn_folds_exactly(name, conv, bn, shape):
    torch.manual_seed(0)
    model = _randomize_bn(ConvBN(conv(), bn())).eval()
    x = torch.randn(*shape)
    folded = fold_conv_bn(model)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)
    assert any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()), "input model was changed"


def test_conv_whose_output_has_other_users_is_not_folded():
    model = _randomize_bn(ConvOutputReused(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))).eval()
    folded = fold_conv_bn(model)
    assert any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(1, 3, 8, 8)
    torch.testing.assert_close(folded(x), model(x))


def test_training_mode_model_is_left_alone():
    model = ConvBN(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    assert fold_conv_bn(model) is model


def test_bn_without_running_stats_is_not_folded():
    model = ConvBN(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False)).eval()
    folded = fold_conv_bn(model)
    assert any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())


def test_untraceable_model_still_folds_inside_sequential():
    model = _randomize_bn(Untraceable()).eval()
    folded = fold_conv_bn(model)
    assert isinstance(folded.body[1], nn.Identity)
    for sign in (1, -1):
        x = sign * torch.rand(1, 3, 8, 8)
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)


def test_inplace_changes_the_given_model_only_when_asked():
    model = _randomize_bn(ConvBN(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))).eval()
    fold_conv_bn(model, inplace=False)
    assert isinstance(model.bn, nn.BatchNorm2d)


def test_linear_bn_folds_exactly():
    torch.manual_seed(1)
    model = _randomize_bn(nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 5, bias=False),
                                        nn.BatchNorm1d(5, affine=False))).eval()
    folded = fold_linear_bn(model)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in folded.modules())
    x = torch.randn(4, 6)
    torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)
