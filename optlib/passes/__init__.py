"""optlib's graph passes. Each is callable alone, copies unless ``inplace=True``, and is a
no-op (with a debug log on the ``optlib`` logger) where its preconditions fail."""

from optlib.passes.dropout import replace_dropout_with_identity
from optlib.passes.fold_bn import fold_conv_bn, fold_linear_bn
from optlib.passes.layout import to_channels_last
from optlib.passes.prepack import PrepackedConv2d, prepack_weights
from optlib.passes.prepack_linear import PrepackedLinear


def sparse_gnn(model, inplace: bool = False):
    """Run recognizable PyG GCNConv / SAGEConv layers as CSR sparse matmuls (see :mod:`optlib.gnn`)."""
    from optlib.gnn import to_sparse_gnn

    return to_sparse_gnn(model, inplace=inplace)


def graph_mode(model, sample_input=None, backend: str = "auto", dtype=None):
    """Compile an eval-mode model (TorchScript freezing, inductor, or a runtime), picked by measurement.

    Returns an :class:`optlib.OptimizedModule`; equivalent to ``optlib.optimize`` with only the
    graph-mode pass enabled.
    """
    from optlib._frontend import optimize

    return optimize(
        model, dtype=dtype, level="O0", graph_mode=True, sample_input=sample_input, backend=backend,
    )


__all__ = [
    "PrepackedConv2d",
    "PrepackedLinear",
    "fold_conv_bn",
    "fold_linear_bn",
    "graph_mode",
    "prepack_weights",
    "replace_dropout_with_identity",
    "sparse_gnn",
    "to_channels_last",
]
