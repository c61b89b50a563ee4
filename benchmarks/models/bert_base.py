"""A BERT-base-style encoder (12 layers, hidden 768, 12 heads), sequence length 128."""

from __future__ import annotations

from benchmarks.models import BuildOptions, ModelSpec, Workload

SEQUENCE = 128


def build(options: BuildOptions) -> Workload:
    import torch

    from benchmarks.models._common import generator, mean_square_loss
    from benchmarks.models._nets.bert import BertConfig, BertEncoder

    torch.manual_seed(options.seed)
    if options.tiny:
        cfg = BertConfig(vocab_size=100, hidden=32, layers=2, heads=2, intermediate=64,
                         max_positions=32)
        seq = 16
    else:
        cfg, seq = BertConfig(), SEQUENCE

    def batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = generator(seed)
        ids = torch.randint(0, cfg.vocab_size, (options.batch_size, seq), generator=g)
        # Real batches are padded: the last eighth of each sequence is padding.
        mask = torch.ones(options.batch_size, seq, dtype=torch.long)
        mask[:, seq - seq // 8:] = 0
        return ids, mask

    return Workload(model=BertEncoder(cfg), inputs=batch(options.seed),
                    batch_size=options.batch_size, samples_per_batch=options.batch_size,
                    loss=mean_square_loss, calibration=lambda i: batch(options.seed + 100 + i),
                    optimizer="adamw")


MODEL = ModelSpec(name="bert_base", family="transformer",
                  description="BERT-base-style encoder, sequence 128",
                  build=build, eval_batch=1, train_batch=4, offline_batch=32)
