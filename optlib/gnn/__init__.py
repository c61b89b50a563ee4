"""Recognize PyG message-passing layers and run them as CSR sparse matmuls.

Only configurations whose semantics the CSR layers reproduce exactly are replaced; anything
else (other aggregations, SAGEConv's ``project``, bipartite inputs through a ``size`` argument,
``SparseTensor`` adjacency) keeps the PyG layer, with a debug log saying why.
"""

from __future__ import annotations

import copy
import sys

from torch import nn

from optlib._log import logger
from optlib.gnn.layers import CSRGCNConv, CSRSAGEConv

__all__ = ["CSRGCNConv", "CSRSAGEConv", "has_sparse_layers", "to_sparse_gnn"]


def _replacement(module: nn.Module) -> nn.Module | None:
    # A PyG layer means PyG is loaded. Importing it only to find none cost every other model
    # 1.8-2.1 s of optimize (the import alone, three runs).
    if "torch_geometric" not in sys.modules:
        return None
    try:
        from torch_geometric.nn import GCNConv, SAGEConv
        from torch_geometric.nn.aggr import MeanAggregation
    except ImportError:
        return None
    if type(module) is GCNConv:
        if not module.normalize:
            logger.debug("sparse_gnn: GCNConv with normalize=False kept")
            return None
        return CSRGCNConv(module)
    if type(module) is SAGEConv:
        if not isinstance(module.aggr_module, MeanAggregation) or module.project:
            logger.debug("sparse_gnn: SAGEConv with aggr=%s project=%s kept", module.aggr, module.project)
            return None
        if isinstance(module.in_channels, tuple) and module.in_channels[0] != module.in_channels[1]:
            logger.debug("sparse_gnn: bipartite SAGEConv kept")
            return None
        return CSRSAGEConv(module)
    return None


def has_sparse_layers(model: nn.Module) -> bool:
    """Whether ``to_sparse_gnn`` would replace any layer of ``model``."""
    return any(_replacement(m) is not None for m in model.modules())


def to_sparse_gnn(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Replace recognizable GCNConv / SAGEConv layers with their CSR equivalents."""
    if _replacement(model) is not None:
        return _replacement(model if inplace else copy.deepcopy(model))
    targets = [(p, n) for p in model.modules() for n, c in p.named_children() if _replacement(c) is not None]
    if not targets:
        logger.debug("sparse_gnn: no GCNConv or mean SAGEConv found")
        return model
    model = model if inplace else copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            replacement = _replacement(child)
            if replacement is not None:
                setattr(parent, name, replacement)
    return model
