"""DLRM, Criteo-like: 13 dense features, 26 sparse features, embedding dim 64, dot interaction.

The optlib variant replaces the 26 embedding-bag lookups with one ``optlib.nn.MergedEmbeddingBag``
call and the interaction with ``optlib.nn.Interaction`` (see ``optlib_rewrite``); the MLPs are
left to ``optlib.optimize``.
"""

from __future__ import annotations

from typing import Any

from benchmarks.models import BuildOptions, ModelSpec, Workload

DENSE = 13
DIM = 64
TABLE_ROWS = [100_000] * 4 + [20_000] * 6 + [2_000] * 8 + [100] * 8
BOTTOM = [512, 256, DIM]
TOP = [512, 256, 1]
POOLING = 1


def build(options: BuildOptions) -> Workload:
    import torch
    import torch.nn.functional as F

    from benchmarks.models._common import generator
    from benchmarks.models._nets.dlrm import DLRM, sparse_batch

    torch.manual_seed(options.seed)
    if options.tiny:
        dense, rows, dim, bottom, top = 4, [50, 20, 10], 8, [16, 8], [16, 1]
    else:
        dense, rows, dim, bottom, top = DENSE, TABLE_ROWS, DIM, BOTTOM, TOP
    model = DLRM(dense, rows, dim, bottom, top)

    def batch(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g = generator(seed)
        x = torch.rand(options.batch_size, dense, generator=g).log1p()
        indices, offsets = sparse_batch(rows, options.batch_size, POOLING, g)
        return x, indices, offsets

    clicks = (torch.rand(options.batch_size, 1, generator=generator(options.seed + 1)) < 0.25)

    def loss(output: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(output.float(), clicks.float())

    return Workload(model=model, inputs=batch(options.seed), batch_size=options.batch_size,
                    samples_per_batch=options.batch_size, loss=loss,
                    calibration=lambda i: batch(options.seed + 100 + i),
                    optlib_rewrite=optlib_rewrite)


def optlib_rewrite(model: Any) -> Any:
    """Swap the 26 per-table lookups for one ``optlib.nn.MergedEmbeddingBag`` call and the
    interaction for ``optlib.nn.Interaction``, keeping the weights, so the optimized model
    computes the same function as the stock one."""
    import optlib.nn

    # It takes the stacked (tables, n) index and offset tensors as they come.
    model.embeddings = optlib.nn.MergedEmbeddingBag.from_embeddingbags(list(model.embeddings.tables))
    model.interaction = optlib.nn.Interaction()
    return model


MODEL = ModelSpec(name="dlrm", family="recsys",
                  description="DLRM, 26 embedding-bag tables x 64, dot interaction",
                  build=build, eval_batch=128, train_batch=128, offline_batch=2048)
