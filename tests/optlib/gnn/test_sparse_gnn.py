"""PyG layers recognized and run as CSR sparse matmuls give PyG's outputs."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("torch_geometric")

from torch_geometric.nn import GCNConv, SAGEConv  # noqa: E402

from optlib.gnn import CSRGCNConv, CSRSAGEConv, to_sparse_gnn  # noqa: E402
from tests.optlib import models  # noqa: E402


@pytest.mark.parametrize("layer", [
    lambda: GCNConv(16, 8),
    lambda: GCNConv(16, 8, improved=True),
    lambda: GCNConv(16, 8, add_self_loops=False),
    lambda: GCNConv(16, 8, cached=True, bias=False),
    lambda: SAGEConv(16, 8),
    lambda: SAGEConv(16, 8, root_weight=False),
    lambda: SAGEConv(16, 8, normalize=True),
])
def test_layer_matches_pyg(layer):
    torch.manual_seed(0)
    conv = layer().eval()
    x, edge_index = models.graph()
    sparse = to_sparse_gnn(conv)
    assert isinstance(sparse, (CSRGCNConv, CSRSAGEConv))
    with torch.no_grad():
        torch.testing.assert_close(sparse(x, edge_index), conv(x, edge_index), rtol=1e-4, atol=1e-5)


def test_edge_weights_and_a_new_graph_invalidate_the_cache():
    torch.manual_seed(1)
    conv = GCNConv(16, 8).eval()
    sparse = to_sparse_gnn(conv)
    x, edge_index = models.graph(seed=1)
    weight = torch.rand(edge_index.size(1))
    with torch.no_grad():
        torch.testing.assert_close(sparse(x, edge_index, weight), conv(x, edge_index, weight), rtol=1e-4, atol=1e-5)
        _, other = models.graph(seed=2)
        torch.testing.assert_close(sparse(x, other), conv(x, other), rtol=1e-4, atol=1e-5)
        edge_index[0, :10] = edge_index[1, :10]  # in-place edit bumps the version counter
        torch.testing.assert_close(sparse(x, edge_index), conv(x, edge_index), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("family", ["gcn", "sage"])
def test_models_are_recognized_and_keep_state_dict_keys(family):
    model, (x, edge_index) = models.FAMILIES[family]()
    sparse = to_sparse_gnn(model)
    assert {type(m) for m in sparse.modules()} & {CSRGCNConv, CSRSAGEConv}
    assert set(sparse.state_dict()) == set(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(sparse(x, edge_index), model(x, edge_index), rtol=1e-4, atol=1e-5)


def test_unsupported_configurations_keep_the_pyg_layer():
    kept = [SAGEConv(16, 8, aggr="max"), SAGEConv(16, 8, project=True), GCNConv(16, 8, normalize=False)]
    for conv in kept:
        assert to_sparse_gnn(conv) is conv
