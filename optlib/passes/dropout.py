"""Replace dropout modules with ``nn.Identity`` in an eval-mode model.

An eval-mode dropout already returns its input, but it is still a module call in eager mode
and an op a tracer has to see through; removing it makes the graph smaller for every later
pass. In training mode dropout is part of the model's semantics, so the pass does nothing.
"""

from __future__ import annotations

import copy

from torch import nn

from optlib._log import logger

_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def replace_dropout_with_identity(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Swap every dropout submodule (and a model that is one) for ``nn.Identity``."""
    if model.training:
        logger.debug("replace_dropout_with_identity: model is in training mode; nothing replaced")
        return model
    if not any(isinstance(m, _DROPOUTS) for m in model.modules()):
        logger.debug("replace_dropout_with_identity: model has no dropout")
        return model
    if isinstance(model, _DROPOUTS):
        return nn.Identity()
    model = model if inplace else copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, _DROPOUTS):
                setattr(parent, name, nn.Identity())
    return model
