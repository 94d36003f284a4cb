"""One answer to each "Your turn" exercise, written the lecture's way rather than the library's, under
the name the notebook's cell gives it (`show_solution("masked_softmax")` shows one of them).

Try the exercise first: each check tells you what is wrong and hints at what to change. The tests run
every check against these answers, and the notebooks' skeletons are filled with them to prove that a
finished notebook passes its checks. `SOLUTIONS` maps each check's name to its answer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import attention_playground as ap  # as the notebooks write it (the package is loaded before this module)

# ---- 00 · data and tokenizers --------------------------------------------------------------------------


def my_tokenizer(text: str):
    chars = sorted(list(set(text)))
    stoi = {ch: i for i, ch in enumerate(chars)}
    itos = {i: ch for i, ch in enumerate(chars)}
    encode = lambda s: [stoi[c] for c in s]  # noqa: E731  (the lecture's one-liners)
    decode = lambda ids: "".join([itos[i] for i in ids])  # noqa: E731
    return encode, decode


def my_split(data: torch.Tensor, val_fraction: float):
    n = int((1 - val_fraction) * len(data))
    return data[:n], data[n:]


def my_get_batch(data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator):
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[i : i + block_size] for i in ix])
    y = torch.stack([data[i + 1 : i + block_size + 1] for i in ix])
    return x, y


# ---- 01 · bigram ---------------------------------------------------------------------------------------


def my_bigram_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    B, T, C = logits.shape
    logits = logits.view(B * T, C)
    targets = targets.view(B * T)
    return F.cross_entropy(logits, targets)


def my_bigram_counts(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    counts = torch.zeros(vocab_size, vocab_size)
    for current, following in zip(tokens[:-1].tolist(), tokens[1:].tolist(), strict=True):
        counts[current, following] += 1
    counts += 1  # add-one smoothing: no pair has probability 0
    return counts / counts.sum(dim=1, keepdim=True)


# ---- 02 · bag of words ---------------------------------------------------------------------------------


def my_causal_average(x: torch.Tensor) -> torch.Tensor:
    B, T, C = x.shape
    xbow = torch.zeros((B, T, C))
    for b in range(B):
        for t in range(T):
            xprev = x[b, : t + 1]  # (t + 1, C)
            xbow[b, t] = torch.mean(xprev, 0)
    return xbow


# ---- 03 · masked softmax -------------------------------------------------------------------------------


def my_masked_softmax(scores: torch.Tensor) -> torch.Tensor:
    T = scores.shape[-1]
    tril = torch.tril(torch.ones(T, T))
    wei = scores.masked_fill(tril == 0, float("-inf"))
    return F.softmax(wei, dim=-1)


def my_attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    head_size = k.shape[-1]
    return q @ k.transpose(-2, -1) * head_size**-0.5


# ---- 04 · self-attention -------------------------------------------------------------------------------


def my_attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    T, head_size = k.shape[-2], k.shape[-1]
    wei = q @ k.transpose(-2, -1) * head_size**-0.5  # (B, T, T)
    tril = torch.tril(torch.ones(T, T))
    wei = wei.masked_fill(tril == 0, float("-inf"))
    wei = F.softmax(wei, dim=-1)
    return wei @ v  # (B, T, hs)


class MyHead(nn.Module):
    """The lecture's Head, with the mask built for each length and without dropout."""

    def __init__(self, n_embd: int, head_size: int):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        k = self.key(x)  # (B, T, hs)
        q = self.query(x)  # (B, T, hs)
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5  # (B, T, T)
        tril = torch.tril(torch.ones(T, T, device=x.device))
        wei = wei.masked_fill(tril == 0, float("-inf"))
        wei = F.softmax(wei, dim=-1)
        v = self.value(x)  # (B, T, hs)
        return wei @ v


# ---- 05 · multi-head attention -------------------------------------------------------------------------


def my_split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, nh, T, hs)


class MyMultiHead(nn.Module):
    """The lecture's: n_head Heads side by side, concatenated on the channels, then projected."""

    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        head_size = n_embd // n_head
        self.heads = nn.ModuleList([ap.Head(n_embd, head_size) for _ in range(n_head)])
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([h(x) for h in self.heads], dim=-1)  # (B, T, n_head * hs) = (B, T, C)
        return self.proj(out)


# ---- 06 · GPT ------------------------------------------------------------------------------------------


class MyFeedForward(nn.Module):
    """The lecture's: a linear layer 4x wider, a ReLU, and back."""

    def __init__(self, n_embd: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.ReLU(),
            nn.Linear(4 * n_embd, n_embd),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MyBlock(nn.Module):
    """The skeleton's __init__ (the library's sublayers), and the lecture's pre-norm forward."""

    def __init__(self, config: ap.GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = ap.MultiHeadAttention(config)
        self.ln2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.ffwd = ap.FeedForward(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        x = x + self.ffwd(self.ln2(x))
        return x


def my_gpt_forward(model: ap.GPT, idx: torch.Tensor) -> torch.Tensor:
    B, T = idx.shape
    tok_emb = model.token_embedding(idx)  # (B, T, C)
    assert model.position_embedding is not None  # notebook 06's GPT learns its positions
    pos_emb = model.position_embedding(torch.arange(T, device=idx.device))  # (T, C)
    x = tok_emb + pos_emb  # (B, T, C)
    for block in model.blocks:
        x = block(x)
    x = model.ln_f(x)
    return model.lm_head(x)  # (B, T, vocab_size)


def my_next_token(
    logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator
) -> torch.Tensor:
    logits = logits / temperature
    if top_k is not None:
        v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
        logits[logits < v[:, [-1]]] = -float("Inf")  # nanoGPT's way
    probs = F.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)


SOLUTIONS = {
    "check_char_tokenizer": my_tokenizer,
    "check_split": my_split,
    "check_get_batch": my_get_batch,
    "check_bigram_loss": my_bigram_loss,
    "check_bigram_counts": my_bigram_counts,
    "check_causal_average": my_causal_average,
    "check_masked_softmax": my_masked_softmax,
    "check_attention_scores": my_attention_scores,
    "check_attend": my_attend,
    "check_head": MyHead,
    "check_split_heads": my_split_heads,
    "check_multi_head": MyMultiHead,
    "check_feed_forward": MyFeedForward,
    "check_block": MyBlock,
    "check_gpt_forward": my_gpt_forward,
    "check_next_token": my_next_token,
}
