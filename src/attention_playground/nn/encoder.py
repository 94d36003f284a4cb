"""Attention beyond the decoder (Canziani's half of the lecture): the encoder, whose tokens read each
other with no mask; the decoder block that also reads an encoder's output (cross-attention); an
encoder-decoder for sequence-to-sequence tasks; and an encoder that classifies a whole sequence.

The pieces are GPT's: multi-head attention (ExtendedAttention, here with causal=False),
FeedForward, pre-LayerNorm residuals, init_weights. Padding: a (B, T) boolean mask, True for real
tokens (key_padding_mask).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, require
from .attention import AttentionMaps, CrossAttention, recording_attention, stack_maps
from .base import LanguageModel, evaluating, init_weights
from .config import GPTConfig
from .decoding import check_sampling, next_token
from .embeddings import TokenAndPositionEmbedding
from .gpt import FeedForward
from .variants import ExtendedAttention

POSITIONS = ("sinusoidal", "learned", "none")
POOLINGS = ("mean", "first")
# GPTConfig's fields the encoder does not build, with their defaults: EncoderConfig refuses others
# (its positions are `positions`, not `position`).
GPT_ONLY = {
    "position": "learned", "attention_scale": True, "residual": True, "norm": "pre",
    "feed_forward": True, "tie_weights": False, "qk_norm": False,
}  # fmt: skip


@dataclass(frozen=True)
class EncoderConfig(GPTConfig):
    """GPTConfig's shape (block_size: the longest source or target), and how tokens learn where they are.

    positions: "sinusoidal" (the 2017 paper's fixed table), "learned" (GPT's nn.Embedding), or "none"
    (then the encoder sees a set, not a sequence: shuffle the tokens and its outputs shuffle alike).
    """

    positions: str = "sinusoidal"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.positions in POSITIONS,
            f"positions={self.positions!r} must be one of {', '.join(POSITIONS)}",
        )
        changed = [
            f"{name}={getattr(self, name)!r}" for name in GPT_ONLY if getattr(self, name) != GPT_ONLY[name]
        ]
        require(
            not changed, f"EncoderConfig builds none of {', '.join(changed)}: those are the GPT's switches"
        )


class Embeddings(TokenAndPositionEmbedding):
    """Token embeddings scaled by sqrt(C), as the 2017 paper does, plus the position code; dropout."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.block_size = config.block_size
        self.build_embeddings(config.vocab_size, config.block_size, config.n_embd, config.positions, True)
        self.drop = nn.Dropout(config.dropout) if config.embedding_dropout else nn.Identity()  # as GPT's

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Tokens (B, T) -> (B, T, C)."""
        if idx.size(1) > self.block_size:
            raise ConfigError(
                f"a sequence of {idx.size(1)} tokens is longer than block_size={self.block_size}: "
                "crop it, or build the model with a larger block_size"
            )
        return self.drop(self.embed(idx))


class EncoderBlock(nn.Module):
    """gpt.Block without the mask: every token reads every token, before and after it."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = ExtendedAttention(config, causal=False)
        self.ln2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.ffwd = FeedForward(config)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), key_padding_mask=padding_mask)  # (B, T, C)
        return x + self.ffwd(self.ln2(x))


class DecoderBlock(nn.Module):
    """Causal self-attention (the target so far), then cross-attention (the source), then compute."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = ExtendedAttention(config, causal=True)  # recall: what I have written so far
        self.ln2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.cross_attn = CrossAttention(config)  # read the book: the encoder's output
        self.ln3 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.ffwd = FeedForward(config)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, memory_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x (B, Tq, C) the target, memory (B, Tk, C) the encoded source -> (B, Tq, C)."""
        x = x + self.attn(self.ln1(x))
        x = x + self.cross_attn(self.ln2(x), memory, memory_padding_mask)
        return x + self.ffwd(self.ln3(x))


class Encoder(nn.Module):
    """Embeddings -> n_layer EncoderBlocks -> LayerNorm: a set of tokens in, one vector per token out."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.embed = Embeddings(config)
        self.blocks = nn.ModuleList([EncoderBlock(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)

    def forward(self, idx: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens (B, T) -> (B, T, C); padding (False in padding_mask) is read by no one."""
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x, padding_mask)
        return self.ln_f(x)


class EncoderDecoderMaps(NamedTuple):
    """Every attention of an encoder-decoder, each stacked over layers (L, B, nh, Tq, Tk)."""

    encoder: AttentionMaps  # the source reads itself, no mask: (L, B, nh, Ts, Ts)
    decoder: AttentionMaps  # the target reads its past, causal: (L, B, nh, Tt, Tt)
    cross: AttentionMaps  # the target reads the source: (L, B, nh, Tt, Ts)


class EncoderDecoder(nn.Module):
    """The 2017 Transformer, small: an Encoder reads the source; a decoder (DecoderBlocks) writes the
    target one token at a time, reading what it wrote (causal) and the encoded source (cross).

    Source and target share one vocabulary but have their own embeddings; n_layer of each.
    """

    has_cross_attention = True  # cross_attention_maps(src, tgt_in) works: what the explorer reads

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.target_embed = Embeddings(config)
        self.blocks = nn.ModuleList([DecoderBlock(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=config.bias)
        self.apply(init_weights)

    @property
    def block_size(self) -> int:
        return self.config.block_size

    def decode(
        self, tgt_in: torch.Tensor, memory: torch.Tensor, src_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Target tokens so far (B, Tt) and the encoded source (B, Ts, C) -> next-token logits (B, Tt, V)."""
        x = self.target_embed(tgt_in)
        for block in self.blocks:
            x = block(x, memory, src_padding_mask)
        return self.lm_head(self.ln_f(x))

    def forward(
        self,
        src: torch.Tensor,
        tgt_in: torch.Tensor,
        targets: torch.Tensor | None = None,
        src_padding_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Source (B, Ts) and the target shifted right (B, Tt) -> logits (B, Tt, V) and the loss on
        `targets` (B, Tt) (targets of -100, e.g. after the end, count for nothing)."""
        logits = self.decode(tgt_in, self.encoder(src, src_padding_mask), src_padding_mask)
        return logits, LanguageModel.loss(logits, targets)

    @torch.no_grad()
    def generate(
        self,
        src: torch.Tensor,
        start_id: int,
        max_new_tokens: int,
        stop_id: int | None = None,
        temperature: float = 0.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        src_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Write a target for each source (B, Ts): up to max_new_tokens tokens after start_id, (B, n).

        temperature 0 (the default) is greedy: the likeliest token, the same every time. A row that
        has written stop_id keeps writing stop_id; all rows stopped ends the loop.
        """
        check_sampling(max_new_tokens, temperature, top_k)
        if max_new_tokens + 1 > self.block_size:
            raise ConfigError(
                f"max_new_tokens={max_new_tokens} and the start token are more than "
                f"block_size={self.block_size} target positions: write fewer tokens"
            )
        with evaluating(self):
            memory = self.encoder(src, src_padding_mask)  # (B, Ts, C): read the source once
            out = torch.full((src.size(0), 1), start_id, dtype=torch.long, device=src.device)
            done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
            for _ in range(max_new_tokens):
                logits = self.decode(out, memory, src_padding_mask)  # (B, T, V)
                token = next_token(logits[:, -1], temperature, top_k, generator=generator)  # (B, 1)
                if stop_id is not None:
                    token = token.masked_fill(done[:, None], stop_id)
                    done |= token[:, 0] == stop_id
                out = torch.cat((out, token), dim=1)
                if stop_id is not None and done.all():
                    break
        return out[:, 1:]

    @torch.no_grad()
    def attention_maps(
        self, src: torch.Tensor, tgt_in: torch.Tensor, src_padding_mask: torch.Tensor | None = None
    ) -> EncoderDecoderMaps:
        """The encoder's, the decoder's and the cross-attention's maps, from the teaching path."""
        with recording_attention(self.encoder) as encoder_maps:
            memory = self.encoder(src, src_padding_mask)
        with recording_attention(self.blocks) as decoder_maps:  # per block: self, then cross
            self.decode(tgt_in, memory, src_padding_mask)
        self_maps, cross_maps = decoder_maps[0::2], decoder_maps[1::2]
        return EncoderDecoderMaps(stack_maps(encoder_maps), stack_maps(self_maps), stack_maps(cross_maps))

    def cross_attention_maps(self, src: torch.Tensor, tgt_in: torch.Tensor) -> AttentionMaps:
        """What each target position reads of the source, every layer and head: (L, B, nh, Tt, Ts)."""
        return self.attention_maps(src, tgt_in).cross

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class EncoderClassifier(nn.Module):
    """An Encoder, pooled to one vector per sequence, then a Linear layer: one label per sequence.

    pooling "mean": the average of the real tokens' outputs; "first": the first token's output (put a
    [CLS]-like token there: it has no word of its own to carry, so it carries the summary).
    """

    has_attention = True  # attention_maps(idx) works
    causal = False  # every query reads every key: what the explorer should show

    def __init__(self, config: EncoderConfig, n_classes: int, pooling: str = "mean"):
        super().__init__()
        require(pooling in POOLINGS, f"pooling={pooling!r} must be one of {', '.join(POOLINGS)}")
        require(n_classes >= 2, f"n_classes={n_classes} must be at least 2")
        self.config = config
        self.pooling = pooling
        self.encoder = Encoder(config)
        self.head = nn.Linear(config.n_embd, n_classes, bias=True)
        self.apply(init_weights)

    @property
    def block_size(self) -> int:
        return self.config.block_size

    def pool(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, C) -> (B, C): the first token, or the mean over the real tokens."""
        if self.pooling == "first":
            return x[:, 0]
        if padding_mask is None:
            return x.mean(dim=1)
        weights = padding_mask.to(x.dtype)[..., None]  # (B, T, 1): 1 for real tokens, 0 for padding
        return (x * weights).sum(dim=1) / weights.sum(dim=1)

    def forward(
        self, idx: torch.Tensor, labels: torch.Tensor | None = None, padding_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Tokens (B, T) -> class logits (B, n_classes), and the cross-entropy on `labels` (B,)."""
        logits = self.head(self.pool(self.encoder(idx, padding_mask), padding_mask))
        return logits, None if labels is None else F.cross_entropy(logits, labels)

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor, padding_mask: torch.Tensor | None = None) -> AttentionMaps:
        """Every layer's scores and weights (L, B, nh, T, T), no causal mask."""
        with recording_attention(self.encoder) as maps:
            self.encoder(idx, padding_mask)
        return stack_maps(maps)

    @torch.no_grad()
    def pooled_attention(self, idx: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, nh, T): how much each token feeds the pooled vector through the last attention layer.

        "first": the first token's row of weights; "mean": the mean of the real tokens' rows (the
        pooled vector averages their outputs, and each output averages the values by its row).
        """
        weights = self.attention_maps(idx, padding_mask).weights[-1]  # (B, nh, T, T)
        if self.pooling == "first":
            return weights[:, :, 0]
        if padding_mask is None:
            return weights.mean(dim=2)
        rows = padding_mask.to(weights.dtype)[:, None, :, None]  # (B, 1, T, 1): the real queries
        return (weights * rows).sum(dim=2) / rows.sum(dim=2)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
