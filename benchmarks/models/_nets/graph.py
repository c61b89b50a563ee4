"""Synthetic citation-style graphs and the torch_geometric models run on them.

The graph is generated, never downloaded: a seeded random graph with Cora's size (2,708
nodes, 10,556 directed edges in symmetric pairs, 1,433 sparse binary features, 7 classes) by
default. Node degrees follow a preferential-attachment law, as citation graphs do, so the
scatter/gather work per node is skewed the way real message passing is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class GraphShape:
    nodes: int = 2708
    edges: int = 10556
    features: int = 1433
    classes: int = 7
    feature_density: float = 0.0127

    def __post_init__(self) -> None:
        if self.nodes < 2 or self.edges < 2 or self.features < 1 or self.classes < 2:
            raise ValueError(f"graph too small: {self}")


def synthetic_graph(shape: GraphShape, generator: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns (features [nodes, features], edge_index [2, edges], labels [nodes])."""
    pairs = shape.edges // 2
    src = torch.randint(0, shape.nodes, (pairs,), generator=generator)
    # Targets drawn with probability growing with rank: a heavy-tailed in-degree.
    weights = 1.0 / torch.arange(1, shape.nodes + 1, dtype=torch.float64)
    dst = torch.multinomial(weights, pairs, replacement=True, generator=generator)
    dst = torch.where(dst == src, (dst + 1) % shape.nodes, dst)
    edge_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
    x = (torch.rand(shape.nodes, shape.features, generator=generator)
         < shape.feature_density).float()
    labels = torch.randint(0, shape.classes, (shape.nodes,), generator=generator)
    return x, edge_index, labels


def build_gnn(kind: str, in_channels: int, hidden: int, layers: int, classes: int) -> nn.Module:
    """One of PyG's reference models (``torch_geometric.nn.models``), as users run them."""
    from torch_geometric.nn import models

    constructors = {
        "gcn": models.GCN,
        "gin": models.GIN,
        "graphsage": models.GraphSAGE,
        "edgecnn": models.EdgeCNN,
    }
    if kind not in constructors:
        raise ValueError(f"unknown GNN {kind!r}; known: {', '.join(sorted(constructors))}")
    return constructors[kind](in_channels=in_channels, hidden_channels=hidden,
                              num_layers=layers, out_channels=classes)
