"""The mistake catalogue: for each exercise, wrong answers as a learner writes them, and the phrase the
check's message must contain. tests/test_exercises.py runs them; scripts/exercise_catalogue.py turns
them, with the messages the checks give, into docs/exercises.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

import attention_playground as ap
from attention_playground.exercises import solutions as solutions


class Planted(NamedTuple):
    check: str  # the check's name in attention_playground.exercises
    mistake: str  # what the learner did, in words
    phrase: str  # a phrase only the message for this mistake contains
    answer: Callable


MISTAKES: list[Planted] = []


def planted(check: str, mistake: str, phrase: str) -> Callable[[Callable], Callable]:
    def register(answer: Callable) -> Callable:
        MISTAKES.append(Planted(check, mistake, phrase, answer))
        return answer

    return register


# ---- 00 · char_tokenizer -------------------------------------------------------------------------------


@planted("check_char_tokenizer", "numbers the characters in the order they first appear", "first appear")
def tokenizer_first_seen(text):
    chars = list(dict.fromkeys(text))
    stoi = {c: i for i, c in enumerate(chars)}
    return (lambda s: [stoi[c] for c in s]), (lambda ids: "".join(chars[i] for i in ids))


@planted("check_char_tokenizer", "ids start at 1", "start at 1")
def tokenizer_from_one(text):
    chars = sorted(set(text))
    stoi = {c: i + 1 for i, c in enumerate(chars)}
    itos = {i: c for c, i in stoi.items()}
    return (lambda s: [stoi[c] for c in s]), (lambda ids: "".join(itos.get(i, "?") for i in ids))


@planted("check_char_tokenizer", "decode joins the characters with spaces", "a space between")
def tokenizer_spaced(text):
    chars = sorted(set(text))
    return (lambda s: [chars.index(c) for c in s]), (lambda ids: " ".join(chars[i] for i in ids))


@planted("check_char_tokenizer", "decode returns a list of characters", "returns a list")
def tokenizer_list(text):
    chars = sorted(set(text))
    return (lambda s: [chars.index(c) for c in s]), (lambda ids: [chars[i] for i in ids])


@planted("check_char_tokenizer", "builds the vocabulary from the first line only", "has no id for")
def tokenizer_first_line(text):
    chars = sorted(set(text.split(" ")[0]))
    stoi = {c: i for i, c in enumerate(chars)}
    return (lambda s: [stoi[c] for c in s]), (lambda ids: "".join(chars[i] for i in ids))


# ---- 00 · split ----------------------------------------------------------------------------------------


@planted("check_split", "the two fractions swapped", "fractions are swapped")
def split_swapped(data, val_fraction):
    n = int(val_fraction * len(data))
    return data[:n], data[n:]


@planted("check_split", "validation taken from the start", "start of the text")
def split_val_first(data, val_fraction):
    n = int(val_fraction * len(data))
    return data[n:], data[:n]


@planted("check_split", "shuffles before splitting", "shuffles the tokens")
def split_shuffled(data, val_fraction):
    data = data[torch.randperm(len(data))]
    n = int((1 - val_fraction) * len(data))
    return data[:n], data[n:]


@planted("check_split", "val starts one token early, overlapping train", "share 1 token")
def split_overlap(data, val_fraction):
    n = int((1 - val_fraction) * len(data))
    return data[:n], data[n - 1 :]


@planted("check_split", "rounds the cut up", "one token away from")
def split_round_up(data, val_fraction):
    n = round((1 - val_fraction) * len(data))
    return data[:n], data[n:]


# ---- 00 · get_batch ------------------------------------------------------------------------------------


@planted("check_get_batch", "the target is not shifted", "not shifted")
def batch_unshifted(data, batch_size, block_size, generator):
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[i : i + block_size] for i in ix])
    return x, x.clone()


@planted("check_get_batch", "the target is the previous token", "shifted the wrong way")
def batch_backwards(data, batch_size, block_size, generator):
    ix = torch.randint(1, len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[i : i + block_size] for i in ix])
    y = torch.stack([data[i - 1 : i + block_size - 1] for i in ix])
    return x, y


@planted("check_get_batch", "returns the whole window of block_size + 1 as x", "block_size + 1 tokens")
def batch_unsplit(data, batch_size, block_size, generator):
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    window = torch.stack([data[i : i + block_size + 1] for i in ix])
    return window, window[:, 1:]


@planted("check_get_batch", "ignores the generator (torch's global one draws)", "ignores the generator")
def batch_global_rng(data, batch_size, block_size, generator):
    ix = torch.randint(len(data) - block_size, (batch_size,))
    return torch.stack([data[i : i + block_size] for i in ix]), torch.stack(
        [data[i + 1 : i + block_size + 1] for i in ix]
    )


@planted("check_get_batch", "randint's bound one too small: never the last window", "never starts a window")
def batch_misses_last(data, batch_size, block_size, generator):
    ix = torch.randint(len(data) - block_size - 1, (batch_size,), generator=generator)
    return torch.stack([data[i : i + block_size] for i in ix]), torch.stack(
        [data[i + 1 : i + block_size + 1] for i in ix]
    )


@planted("check_get_batch", "randint's bound one too large: a window runs off the end", "runs past the end")
def batch_past_end(data, batch_size, block_size, generator):
    ix = torch.randint(len(data) - block_size + 1, (batch_size,), generator=generator)
    return torch.stack([data[i : i + block_size] for i in ix]), torch.stack(
        [data[i + 1 : i + block_size + 1] for i in ix]
    )


@planted("check_get_batch", "the first windows, not random ones", "not random")
def batch_not_random(data, batch_size, block_size, generator):
    ix = torch.arange(batch_size)
    return torch.stack([data[i : i + block_size] for i in ix]), torch.stack(
        [data[i + 1 : i + block_size + 1] for i in ix]
    )


# ---- 01 · bigram_loss ----------------------------------------------------------------------------------


@planted("check_bigram_loss", "no reshape: cross_entropy on (B, T, V)", "not reshaped")
def loss_no_reshape(logits, targets):
    return F.cross_entropy(logits, targets)


@planted(
    "check_bigram_loss",
    "logits flattened after a transpose(0, 1), targets not",
    "logits are flattened time-major",
)
def loss_time_major_logits(logits, targets):
    B, T, V = logits.shape
    return F.cross_entropy(logits.transpose(0, 1).reshape(B * T, V), targets.view(B * T))


@planted("check_bigram_loss", "targets flattened after .T, logits not", "targets are flattened time-major")
def loss_time_major_targets(logits, targets):
    B, T, V = logits.shape
    return F.cross_entropy(logits.view(B * T, V), targets.T.reshape(B * T))


@planted("check_bigram_loss", "logits.transpose(1, 2) then view(B*T, V)", "time and vocabulary mixed")
def loss_transpose_then_view(logits, targets):
    B, T, V = logits.shape
    return F.cross_entropy(logits.transpose(1, 2).reshape(B * T, V), targets.view(B * T))


@planted("check_bigram_loss", "reduction='sum'", "sum over the B*T positions")
def loss_sum(logits, targets):
    B, T, V = logits.shape
    return F.cross_entropy(logits.view(B * T, V), targets.view(B * T), reduction="sum")


@planted("check_bigram_loss", "softmax before cross_entropy", "softmax before cross_entropy")
def loss_softmax_first(logits, targets):
    B, T, V = logits.shape
    return F.cross_entropy(F.softmax(logits, dim=-1).view(B * T, V), targets.view(B * T))


@planted("check_bigram_loss", "nll_loss of the raw logits", "log-softmax is missing")
def loss_nll(logits, targets):
    B, T, V = logits.shape
    return F.nll_loss(logits.view(B * T, V), targets.view(B * T))


@planted("check_bigram_loss", "reduction='none': one loss per position", "one number per position")
def loss_per_position(logits, targets):
    B, T, V = logits.shape
    return F.cross_entropy(logits.view(B * T, V), targets.view(B * T), reduction="none")


# ---- 01 · bigram_counts --------------------------------------------------------------------------------


def _pair_counts(current, following, V):
    counts = torch.zeros(V, V)
    for a, b in zip(current.tolist(), following.tolist(), strict=True):
        counts[a, b] += 1
    return counts


@planted("check_bigram_counts", "no add-one smoothing", "no add-one smoothing")
def counts_unsmoothed(tokens, V):
    counts = _pair_counts(tokens[:-1], tokens[1:], V)
    return counts / counts.sum(1, keepdim=True)


@planted("check_bigram_counts", "normalised over dim=0", "normalised the columns")
def counts_columns(tokens, V):
    counts = _pair_counts(tokens[:-1], tokens[1:], V) + 1
    return counts / counts.sum(0, keepdim=True)


@planted("check_bigram_counts", "counts[next, current]", "table is transposed")
def counts_transposed(tokens, V):
    counts = _pair_counts(tokens[1:], tokens[:-1], V) + 1
    return counts / counts.sum(1, keepdim=True)


@planted("check_bigram_counts", "pairs from torch.roll, wrapping around", "wrapped around")
def counts_wrapped(tokens, V):
    counts = _pair_counts(tokens, torch.roll(tokens, -1), V) + 1
    return counts / counts.sum(1, keepdim=True)


# ---- 02 · causal_average -------------------------------------------------------------------------------


@planted("check_causal_average", "x[b, :t]: leaves out the current token", "leaves out the current token")
def average_without_current(x):
    B, T, C = x.shape
    out = torch.zeros(B, T, C)
    for b in range(B):
        for t in range(T):
            out[b, t] = x[b, :t].mean(0)
    return out


@planted("check_causal_average", "divides by T", "divides by T")
def average_by_T(x):
    T = x.shape[1]
    return torch.tril(torch.ones(T, T)) / T @ x


@planted("check_causal_average", "triu for tril", "reads the future")
def average_triu(x):
    T = x.shape[1]
    wei = torch.triu(torch.ones(T, T))
    return wei / wei.sum(1, keepdim=True) @ x


@planted("check_causal_average", "no division: a running sum", "running sum")
def average_sum(x):
    T = x.shape[1]
    return torch.tril(torch.ones(T, T)) @ x


@planted("check_causal_average", "normalised over dim=0", "normalised the columns of the weights")
def average_columns(x):
    T = x.shape[1]
    wei = torch.tril(torch.ones(T, T))
    return wei / wei.sum(0, keepdim=True) @ x


@planted("check_causal_average", "the mean of the whole sequence", "mean of the whole sequence")
def average_everything(x):
    return x.mean(1, keepdim=True).repeat(1, x.shape[1], 1)


# ---- 03 · masked_softmax -------------------------------------------------------------------------------


def _tril(scores):
    T = scores.shape[-1]
    return torch.tril(torch.ones(T, T))


@planted("check_masked_softmax", "softmax over dim=-2", "wrong dimension")
def softmax_wrong_dim(scores):
    return F.softmax(scores.masked_fill(_tril(scores) == 0, float("-inf")), dim=-2)


@planted("check_masked_softmax", "triu for tril", "triu where tril")
def softmax_triu(scores):
    T = scores.shape[-1]
    return F.softmax(scores.masked_fill(torch.triu(torch.ones(T, T)) == 0, float("-inf")), dim=-1)


@planted("check_masked_softmax", "masked with 0 instead of -inf", "with 0 instead of -inf")
def softmax_fill_zero(scores):
    return F.softmax(scores.masked_fill(_tril(scores) == 0, 0.0), dim=-1)


@planted("check_masked_softmax", "softmax, then the mask", "softmax before the mask")
def softmax_then_mask(scores):
    return F.softmax(scores, dim=-1) * _tril(scores)


@planted("check_masked_softmax", "tril(diagonal=-1): the diagonal masked too", "hides the diagonal")
def softmax_no_diagonal(scores):
    T = scores.shape[-1]
    return F.softmax(
        scores.masked_fill(torch.tril(torch.ones(T, T), diagonal=-1) == 0, float("-inf")), dim=-1
    )


@planted("check_masked_softmax", "no mask at all", "there is no mask")
def softmax_unmasked(scores):
    return F.softmax(scores, dim=-1)


@planted("check_masked_softmax", "T taken from scores.shape[0]", "fails on a batch")
def softmax_first_dim(scores):
    T = scores.shape[0]
    return F.softmax(scores.masked_fill(torch.tril(torch.ones(T, T)) == 0, float("-inf")), dim=-1)


# ---- 03 · attention_scores -----------------------------------------------------------------------------


@planted("check_attention_scores", "no scale", "are not scaled")
def scores_unscaled(q, k):
    return q @ k.transpose(-2, -1)


@planted("check_attention_scores", "scaled by 1/head_size", "divided by head_size instead")
def scores_by_hs(q, k):
    return q @ k.transpose(-2, -1) / k.shape[-1]


@planted("check_attention_scores", "multiplied by sqrt(head_size)", "multiplied by √head_size")
def scores_times_sqrt(q, k):
    return q @ k.transpose(-2, -1) * k.shape[-1] ** 0.5


@planted("check_attention_scores", "k @ q.T", "k @ qᵀ")
def scores_k_q(q, k):
    return k @ q.transpose(-2, -1) * k.shape[-1] ** -0.5


@planted("check_attention_scores", "scaled by sqrt(T) (q.shape[1])", "√T")
def scores_by_T(q, k):
    return q @ k.transpose(-2, -1) * q.shape[1] ** -0.5


@planted("check_attention_scores", "q @ k, no transpose", "without transposing")
def scores_no_transpose(q, k):
    return q @ k * k.shape[-1] ** -0.5


# ---- 04 · attend ---------------------------------------------------------------------------------------


def _scaled(q, k):
    return q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5


@planted("check_attend", "no mask", "position 0 reads position 1")
def attend_unmasked(q, k, v):
    return F.softmax(_scaled(q, k), dim=-1) @ v


@planted("check_attend", "wei.transpose(-2, -1) @ v", "transposed weights")
def attend_transposed(q, k, v):
    return solutions.my_masked_softmax(_scaled(q, k)).transpose(-2, -1) @ v


@planted("check_attend", "no scale", "not scaled by 1/√head_size")
def attend_unscaled(q, k, v):
    return solutions.my_masked_softmax(q @ k.transpose(-2, -1)) @ v


@planted("check_attend", "mask after the softmax", "masked after the softmax")
def attend_mask_late(q, k, v):
    T = q.shape[-2]
    return F.softmax(_scaled(q, k), dim=-1).masked_fill(torch.tril(torch.ones(T, T)) == 0, 0) @ v


@planted("check_attend", "weights @ k", "sum of the keys")
def attend_keys(q, k, v):
    return solutions.my_masked_softmax(_scaled(q, k)) @ k


@planted("check_attend", "returns the weights", "returned the attention weights")
def attend_weights(q, k, v):
    return solutions.my_masked_softmax(_scaled(q, k))


# ---- 04 · Head -----------------------------------------------------------------------------------------


class _Head(nn.Module):
    def __init__(self, n_embd, head_size):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.n_embd = n_embd

    def mask(self, wei):
        T = wei.shape[-1]
        return wei.masked_fill(torch.tril(torch.ones(T, T)) == 0, float("-inf"))


@planted("check_head", "no scale", "not scaled by 1/√head_size")
class HeadUnscaled(_Head):
    def forward(self, x):
        wei = self.query(x) @ self.key(x).transpose(-2, -1)
        return F.softmax(self.mask(wei), dim=-1) @ self.value(x)


@planted("check_head", "scaled by C ** -0.5, as the lecture's video", "1/√n_embd")
class HeadByC(_Head):
    def forward(self, x):
        B, T, C = x.shape
        wei = self.query(x) @ self.key(x).transpose(-2, -1) * C**-0.5
        return F.softmax(self.mask(wei), dim=-1) @ self.value(x)


@planted("check_head", "no mask", "every token reads the future")
class HeadUnmasked(_Head):
    def forward(self, x):
        wei = self.query(x) @ self.key(x).transpose(-2, -1) * self.key.out_features**-0.5
        return F.softmax(wei, dim=-1) @ self.value(x)


@planted("check_head", "k @ q.T", "scores are transposed")
class HeadKQ(_Head):
    def forward(self, x):
        wei = self.key(x) @ self.query(x).transpose(-2, -1) * self.key.out_features**-0.5
        return F.softmax(self.mask(wei), dim=-1) @ self.value(x)


@planted("check_head", "wei @ x instead of wei @ v", "value layer is never used")
class HeadAveragesX(_Head):
    def forward(self, x):
        wei = self.query(x) @ self.key(x).transpose(-2, -1) * self.key.out_features**-0.5
        return F.softmax(self.mask(wei), dim=-1) @ x


@planted("check_head", "softmax over dim=1", "runs over the queries")
class HeadSoftmaxDim1(_Head):
    def forward(self, x):
        wei = self.query(x) @ self.key(x).transpose(-2, -1) * self.key.out_features**-0.5
        return F.softmax(self.mask(wei), dim=1) @ self.value(x)


# ---- 05 · split_heads ----------------------------------------------------------------------------------


@planted("check_split_heads", "x.view(B, nh, T, hs) directly", "viewed (B, T, C) directly")
def heads_direct_view(x, n_head):
    B, T, C = x.shape
    return x.view(B, n_head, T, C // n_head)


@planted("check_split_heads", "view(B, T, hs, nh).permute(0, 3, 1, 2): interleaved channels", "h + n_head")
def heads_interleaved(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, C // n_head, n_head).permute(0, 3, 1, 2)


@planted("check_split_heads", "no transpose", "did not move the heads")
def heads_no_transpose(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head)


@planted("check_split_heads", "n_head and head_size swapped", "n_head and head_size swapped")
def heads_swapped(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, C // n_head, n_head).transpose(1, 2)


# ---- 05 · multi_head -----------------------------------------------------------------------------------


class _MultiHead(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.heads = nn.ModuleList([ap.Head(n_embd, n_embd // n_head) for _ in range(n_head)])
        self.proj = nn.Linear(n_embd, n_embd)


@planted("check_multi_head", "torch.cat(..., dim=1)", "along time")
class MultiHeadCatTime(_MultiHead):
    def forward(self, x):
        return self.proj(torch.cat([h(x) for h in self.heads], dim=1))


@planted("check_multi_head", "torch.cat(..., dim=0)", "along the batch")
class MultiHeadCatBatch(_MultiHead):
    def forward(self, x):
        return self.proj(torch.cat([h(x) for h in self.heads], dim=0))


@planted("check_multi_head", "heads added, not concatenated", "added the heads")
class MultiHeadSum(_MultiHead):
    def forward(self, x):
        return self.proj(sum(h(x) for h in self.heads))


@planted("check_multi_head", "no projection", "did not project")
class MultiHeadNoProj(_MultiHead):
    def forward(self, x):
        return torch.cat([h(x) for h in self.heads], dim=-1)


@planted("check_multi_head", "[Head(...)] * n_head: one head repeated", "one module repeated")
class MultiHeadRepeated(_MultiHead):
    def __init__(self, n_embd, n_head):
        super().__init__(n_embd, n_head)
        self.heads = nn.ModuleList([ap.Head(n_embd, n_embd // n_head)] * n_head)

    def forward(self, x):
        return self.proj(torch.cat([h(x) for h in self.heads], dim=-1))


@planted("check_multi_head", "each head of size n_embd", "each head has head_size")
class MultiHeadFullWidth(_MultiHead):
    def __init__(self, n_embd, n_head):
        super().__init__(n_embd, n_head)
        self.heads = nn.ModuleList([ap.Head(n_embd, n_embd) for _ in range(n_head)])
        self.proj = nn.Linear(n_head * n_embd, n_embd)

    def forward(self, x):
        return self.proj(torch.cat([h(x) for h in self.heads], dim=-1))


# ---- 06 · feed_forward ---------------------------------------------------------------------------------


class _FeedForward(nn.Module):
    def __init__(self, n_embd, hidden=4, activation=nn.ReLU):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_embd, hidden * n_embd), activation(), nn.Linear(hidden * n_embd, n_embd)
        )

    def forward(self, x):
        return self.net(x)


@planted("check_feed_forward", "no ReLU", "no non-linearity")
class FeedForwardLinear(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.Linear(4 * n_embd, n_embd))

    def forward(self, x):
        return self.net(x)


@planted("check_feed_forward", "a ReLU after the last layer too", "can never be negative")
class FeedForwardReluOut(_FeedForward):
    def forward(self, x):
        return F.relu(self.net(x))


@planted("check_feed_forward", "GELU instead of ReLU", "GELU where the lecture's ReLU")
class FeedForwardGelu(_FeedForward):
    def __init__(self, n_embd):
        super().__init__(n_embd, activation=nn.GELU)


@planted("check_feed_forward", "hidden width n_embd, not 4 * n_embd", "hidden layer has 4 units")
class FeedForwardNarrow(_FeedForward):
    def __init__(self, n_embd):
        super().__init__(n_embd, hidden=1)


@planted("check_feed_forward", "ReLU first, then the two layers", "comes before the first layer")
class FeedForwardReluFirst(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Linear(n_embd, 4 * n_embd), nn.Linear(4 * n_embd, n_embd))

    def forward(self, x):
        return self.net(x)


# ---- 06 · block ----------------------------------------------------------------------------------------


class _Block(solutions.MyBlock):
    pass


@planted("check_block", "post-norm: ln(x + sublayer(x))", "post-norm where pre-norm")
class BlockPostNorm(_Block):
    def forward(self, x):
        x = self.ln1(x + self.attn(x))
        return self.ln2(x + self.ffwd(x))


@planted("check_block", "residuals replace: x = attn(ln1(x))", "replace x instead of adding")
class BlockNoResidual(_Block):
    def forward(self, x):
        x = self.attn(self.ln1(x))
        return self.ffwd(self.ln2(x))


@planted("check_block", "x = ffwd(ln2(x)) without the add", "feed-forward output replaces x")
class BlockNoSecondResidual(_Block):
    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return self.ffwd(self.ln2(x))


@planted("check_block", "x = attn(ln1(x)) without the add", "attention output replaces x")
class BlockNoFirstResidual(_Block):
    def forward(self, x):
        x = self.attn(self.ln1(x))
        return x + self.ffwd(self.ln2(x))


@planted("check_block", "both sublayers read the block's input", "side by side")
class BlockParallel(_Block):
    def forward(self, x):
        return x + self.attn(self.ln1(x)) + self.ffwd(self.ln2(x))


@planted("check_block", "ln1 before both sublayers", "ln2 is never used")
class BlockOneNorm(_Block):
    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.ffwd(self.ln1(x))


@planted("check_block", "x = ln1(x) first, then x = x + attn(x)", "adds ln1(x), not x")
class BlockNormedResidual(_Block):
    def forward(self, x):
        x = self.ln1(x)
        x = x + self.attn(x)
        return x + self.ffwd(self.ln2(x))


@planted("check_block", "feed-forward before attention", "feed-forward before the attention")
class BlockSwapped(_Block):
    def forward(self, x):
        x = x + self.ffwd(self.ln1(x))
        return x + self.attn(self.ln2(x))


# ---- 06 · gpt_forward ----------------------------------------------------------------------------------


def _finish(model, x):
    for block in model.blocks:
        x = block(x)
    return model.lm_head(model.ln_f(x))


@planted("check_gpt_forward", "no position embedding", "no position embedding")
def gpt_no_positions(model, idx):
    return _finish(model, model.token_embedding(idx))


@planted("check_gpt_forward", "positions torch.arange(1, T + 1)", "start at 1")
def gpt_positions_from_one(model, idx):
    T = idx.shape[1]
    return _finish(model, model.token_embedding(idx) + model.position_embedding(torch.arange(1, T + 1)))


@planted("check_gpt_forward", "positions torch.arange(block_size)", "block_size rows, not T")
def gpt_positions_block_size(model, idx):
    positions = torch.arange(model.config.block_size)
    return _finish(model, model.token_embedding(idx) + model.position_embedding(positions))


@planted("check_gpt_forward", "position_embedding(idx)", "with the token ids")
def gpt_positions_from_ids(model, idx):
    return _finish(model, model.token_embedding(idx) + model.position_embedding(idx))


@planted("check_gpt_forward", "no ln_f", "ln_f is missing")
def gpt_no_final_norm(model, idx):
    T = idx.shape[1]
    x = model.token_embedding(idx) + model.position_embedding(torch.arange(T))
    for block in model.blocks:
        x = block(x)
    return model.lm_head(x)


@planted(
    "check_gpt_forward", "y = block(x) in the loop: blocks not chained", "not the previous block's output"
)
def gpt_unchained(model, idx):
    T = idx.shape[1]
    x = model.token_embedding(idx) + model.position_embedding(torch.arange(T))
    for block in model.blocks:
        y = block(x)
    return model.lm_head(model.ln_f(y))


# ---- 06 · next_token -----------------------------------------------------------------------------------


def _top_k(logits, k, keep=0, fill=float("-inf")):
    v, _ = torch.topk(logits, k + keep)
    return logits.masked_fill(logits < v[:, [-1]], fill)


@planted("check_next_token", "temperature applied after the softmax", "temperature has no effect")
def sample_temperature_late(logits, temperature, top_k, generator):
    if top_k is not None:
        logits = _top_k(logits, top_k)
    probs = F.softmax(logits, dim=-1) / temperature
    return torch.multinomial(probs, 1, generator=generator)


@planted("check_next_token", "logits * temperature", "multiplied the logits")
def sample_temperature_times(logits, temperature, top_k, generator):
    logits = logits * temperature
    if top_k is not None:
        logits = _top_k(logits, top_k)
    return torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)


@planted("check_next_token", "top-k keeps k + 1 (the threshold is sorted[:, k])", "keeps k + 1")
def sample_top_k_plus_one(logits, temperature, top_k, generator):
    logits = logits / temperature
    if top_k is not None:
        threshold = logits.sort(dim=-1, descending=True).values[:, [top_k]]
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    return torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)


@planted("check_next_token", "top-k masks with <= the k-th: keeps k - 1", "keeps k - 1")
def sample_top_k_minus_one(logits, temperature, top_k, generator):
    logits = logits / temperature
    if top_k is not None:
        v, _ = torch.topk(logits, top_k)
        logits = logits.masked_fill(logits <= v[:, [-1]], float("-inf"))
    return torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)


@planted("check_next_token", "top-k fills with 0", "to 0, not -inf")
def sample_top_k_zero(logits, temperature, top_k, generator):
    logits = logits / temperature
    if top_k is not None:
        logits = _top_k(logits, top_k, fill=0.0)
    return torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)


@planted("check_next_token", "returns the index into topk's values", "position within the top k")
def sample_top_k_position(logits, temperature, top_k, generator):
    logits = logits / temperature
    if top_k is None:
        return torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)
    v, _ = torch.topk(logits, top_k)
    return torch.multinomial(F.softmax(v, dim=-1), 1, generator=generator)


@planted("check_next_token", "argmax instead of sampling", "always pick the likeliest")
def sample_greedy(logits, temperature, top_k, generator):
    return logits.argmax(dim=-1, keepdim=True)


@planted("check_next_token", "multinomial without the generator", "sampling ignores the generator")
def sample_global_rng(logits, temperature, top_k, generator):
    logits = logits / temperature
    if top_k is not None:
        logits = _top_k(logits, top_k)
    return torch.multinomial(F.softmax(logits, dim=-1), 1)


@planted("check_next_token", "returns (B,) instead of (B, 1)", "you returned shape")
def sample_flat(logits, temperature, top_k, generator):
    return solutions.my_next_token(logits, temperature, top_k, generator).squeeze(-1)
