"""A small GPT-style decoder (8 layers, hidden 512): full-sequence eval and training, and a
``generate`` mode that times prefill and cached decode apart (tokens per second)."""

from __future__ import annotations

from benchmarks.models import BuildOptions, ModelSpec, Workload

SEQUENCE = 128
PROMPT = 32
NEW_TOKENS = 32


def build(options: BuildOptions) -> Workload:
    import torch
    import torch.nn.functional as F

    from benchmarks.models._common import generator
    from benchmarks.models._nets.gpt import GPT, GPTConfig, LogitsOnly, greedy_generate

    torch.manual_seed(options.seed)
    if options.tiny:
        cfg = GPTConfig(vocab_size=64, hidden=32, layers=2, heads=2, max_positions=64)
        seq, prompt_len, new_tokens = 16, 4, 4
    else:
        cfg, seq, prompt_len, new_tokens = GPTConfig(), SEQUENCE, PROMPT, NEW_TOKENS
    gpt = GPT(cfg)

    def tokens(length: int, seed: int) -> torch.Tensor:
        return torch.randint(0, cfg.vocab_size, (options.batch_size, length),
                             generator=generator(seed))

    sequence = tokens(seq + 1, options.seed)

    def next_token_loss(logits: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float().reshape(-1, cfg.vocab_size),
                               sequence[:, 1:].reshape(-1))

    prompt = tokens(prompt_len, options.seed + 7)

    def generate(module: object) -> tuple[float, float, int]:
        out, prefill_s, decode_s = greedy_generate(module, prompt, new_tokens)
        return prefill_s, decode_s, out.shape[1]

    return Workload(model=LogitsOnly(gpt), inputs=(sequence[:, :-1],),
                    batch_size=options.batch_size, samples_per_batch=options.batch_size,
                    loss=next_token_loss,
                    calibration=lambda i: (tokens(seq, options.seed + 100 + i),),
                    generate=generate, generation_model=gpt, generate_inputs=(prompt, None),
                    optimizer="adamw")


MODEL = ModelSpec(name="gpt_small", family="transformer",
                  description="GPT-style decoder, 8 layers x 512, KV-cache generation",
                  build=build, eval_batch=1, train_batch=4, offline_batch=16,
                  modes=("eval", "train", "generate"))
