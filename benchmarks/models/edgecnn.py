"""EdgeCNN (Wang et al. 2019): EdgeConv, an MLP on every edge's (x_i, x_j - x_i).

torch_geometric's reference model, 2 layers of 64 hidden channels, on a Cora-sized synthetic
graph (2,708 nodes, 10,556 edges, 1,433 features).
"""

from __future__ import annotations

from benchmarks.models import BuildOptions, ModelSpec, Workload
from benchmarks.models._graph_models import build_gnn_workload


def build(options: BuildOptions) -> Workload:
    return build_gnn_workload("edgecnn", options)


MODEL = ModelSpec(name="edgecnn", family="gnn", description="torch_geometric edgecnn, Cora-sized graph",
                  build=build, eval_batch=1, train_batch=1, offline_batch=8,
                  requires=("torch_geometric",))
