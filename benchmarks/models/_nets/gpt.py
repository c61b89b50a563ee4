"""A small GPT-style decoder (pre-norm, causal attention, tied embeddings) with a KV cache.

``forward(input_ids, past)`` returns the logits and the new cache, so the same module serves
a full-sequence forward (eval, train) and token-by-token generation. The cache is a tuple of
per-layer (key, value) tensors, grown by concatenation, the simplest cache that a user writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

KVCache = tuple[tuple[torch.Tensor, torch.Tensor], ...]


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 32000
    hidden: int = 512
    layers: int = 8
    heads: int = 8
    max_positions: int = 1024

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} must be a multiple of heads {self.heads}")


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden)
        self.out = nn.Linear(cfg.hidden, cfg.hidden)

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, s, h = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        # With a cache, the new queries sit at the end of the sequence and may see every key,
        # so the causal mask is only needed for the multi-token (prefill) call.
        ctx = F.scaled_dot_product_attention(q, k, v, is_causal=past is None and s > 1)
        return self.out(ctx.transpose(1, 2).reshape(b, s, h)), (k, v)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.hidden)
        self.attention = CausalSelfAttention(cfg)
        self.norm2 = nn.LayerNorm(cfg.hidden)
        self.mlp = nn.Sequential(nn.Linear(cfg.hidden, 4 * cfg.hidden), nn.GELU(),
                                 nn.Linear(4 * cfg.hidden, cfg.hidden))

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        attn, present = self.attention(self.norm1(x), past)
        x = x + attn
        return x + self.mlp(self.norm2(x)), present


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.token = nn.Embedding(cfg.vocab_size, cfg.hidden)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.hidden)
        self.head = nn.Linear(cfg.hidden, cfg.vocab_size, bias=False)
        self.head.weight = self.token.weight

    def forward(self, input_ids: torch.Tensor, past: KVCache | None = None
                ) -> tuple[torch.Tensor, KVCache]:
        start = 0 if past is None else past[0][0].shape[2]
        positions = torch.arange(start, start + input_ids.shape[1], device=input_ids.device)
        x = self.token(input_ids) + self.position(positions)
        presents = []
        for i, block in enumerate(self.blocks):
            x, present = block(x, None if past is None else past[i])
            presents.append(present)
        return self.head(self.norm(x)), tuple(presents)


class LogitsOnly(nn.Module):
    """The decoder without its cache output, for full-sequence eval and training."""

    def __init__(self, gpt: GPT) -> None:
        super().__init__()
        self.gpt = gpt

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.gpt(input_ids)[0]


@torch.no_grad()
def greedy_generate(model: nn.Module, prompt: torch.Tensor, new_tokens: int
                    ) -> tuple[torch.Tensor, float, float]:
    """Generates ``new_tokens`` greedily; returns (tokens, prefill seconds, decode seconds).

    Prefill (the prompt in one call) and decode (one token per call against the cache) are
    timed apart because they stress different kernels: GEMMs versus memory-bound GEMVs.
    """
    import time

    t0 = time.perf_counter()
    logits, past = model(prompt, None)
    token = logits[:, -1].argmax(-1, keepdim=True)
    t1 = time.perf_counter()
    tokens = [token]
    for _ in range(new_tokens - 1):
        logits, past = model(token, past)
        token = logits[:, -1].argmax(-1, keepdim=True)
        tokens.append(token)
    t2 = time.perf_counter()
    return torch.cat(tokens, dim=1), t1 - t0, t2 - t1
