"""The build function shared by the GNN models.

A batch of ``batch_size`` is that many disjoint copies of the synthetic graph in one big
graph (the way PyG batches graphs), so a larger batch means proportionally more nodes and
edges; throughput counts nodes.
"""

from __future__ import annotations

from benchmarks.models import BuildOptions, Workload

HIDDEN = 64
LAYERS = 2


def build_gnn_workload(kind: str, options: BuildOptions) -> Workload:
    import torch

    from benchmarks.models._common import classification_loss, generator
    from benchmarks.models._nets.graph import GraphShape, build_gnn, synthetic_graph

    torch.manual_seed(options.seed)
    shape = GraphShape(nodes=40, edges=160, features=16, classes=3, feature_density=0.2) \
        if options.tiny else GraphShape()
    hidden = 8 if options.tiny else HIDDEN

    def batch(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        xs, edges, labels = [], [], []
        for copy in range(options.batch_size):
            x, edge_index, y = synthetic_graph(shape, generator(seed + copy))
            xs.append(x)
            edges.append(edge_index + copy * shape.nodes)
            labels.append(y)
        return torch.cat(xs), torch.cat(edges, dim=1), torch.cat(labels)

    x, edge_index, labels = batch(options.seed)
    return Workload(
        model=build_gnn(kind, shape.features, hidden, LAYERS, shape.classes),
        inputs=(x, edge_index),
        batch_size=options.batch_size,
        samples_per_batch=options.batch_size * shape.nodes,
        loss=classification_loss(labels),
        calibration=lambda i: batch(options.seed + 100 + i)[:2],
    )
