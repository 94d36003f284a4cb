"""The embedding tables as numbers: the token table in two dimensions (PCA), coloured by the kind of
character each token is, and how alike the learned position vectors are (cosine similarity)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from ..data.tokenizers import Tokenizer, token_labels
from ..nn.base import uncompiled

CHARACTER_CLASSES = ("vowel", "consonant", "capital", "digit", "punctuation", "whitespace")
_VOWELS = set("aeiou")


def character_class(piece: str) -> str:
    """The class of a token's text, by its first character that is not a space (GPT-2's pieces often
    begin with one): vowel, consonant (lower case), capital, digit, punctuation or whitespace."""
    stripped = piece.lstrip(" ")
    if not stripped or stripped.isspace():
        return "whitespace"
    first = stripped[0]
    if first.isdigit():
        return "digit"
    if first.isupper():
        return "capital"
    if first.isalpha():
        return "vowel" if first in _VOWELS else "consonant"
    return "whitespace" if first.isspace() else "punctuation"


class TokenMap(NamedTuple):
    """The token table (V, C) projected on its principal components, one row per token."""

    coords: torch.Tensor  # (V, k) each token's coordinates along the first k components
    explained: torch.Tensor  # (k,) the share of the table's variance each component holds
    labels: list[str]  # each token's text, spaces and newlines made visible
    classes: list[str]  # each token's character class (CHARACTER_CLASSES)

    def class_means(self, component: int = 0) -> dict[str, float]:
        """The mean coordinate of each class present along one component: where the classes sit."""
        means = {}
        for name in CHARACTER_CLASSES:
            rows = [i for i, c in enumerate(self.classes) if c == name]
            if rows:
                means[name] = self.coords[rows, component].mean().item()
        return means


def principal_components(table: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first k components of a table's rows: (coordinates (N, k), share of variance (k,)).

    From the (C, C) covariance: GPT-2's 50,257 rows cost no more than 65. Each component's sign is
    chosen so its largest loading is positive: the same picture on every run.
    """
    centred = table.detach().double().cpu() - table.detach().double().cpu().mean(0)  # (N, C)
    variances, vectors = torch.linalg.eigh(centred.T @ centred)  # ascending
    variances, vectors = variances.flip(0)[:k], vectors.flip(1)[:, :k]  # (k,), (C, k)
    signs = vectors.gather(0, vectors.abs().argmax(0, keepdim=True)).sign()  # (1, k)
    vectors = vectors * signs
    explained = variances / centred.pow(2).sum()
    return (centred @ vectors).float(), explained.float()


def token_map(model: nn.Module, tokenizer: Tokenizer, k: int = 4) -> TokenMap:
    """The token embedding table on its first k principal components, with each token's class."""
    net: Any = uncompiled(model)
    table = net.token_embedding.weight  # (V, C)
    if table.size(0) != tokenizer.vocab_size:
        raise ValueError(
            f"the model has {table.size(0)} token embeddings and the tokenizer {tokenizer.vocab_size} "
            "tokens: pass the tokenizer the model was trained with"
        )
    k = min(k, table.size(1))
    coords, explained = principal_components(table, k)
    ids = list(range(table.size(0)))
    pieces = tokenizer.token_strings(ids)
    return TokenMap(coords, explained, token_labels(tokenizer, ids), [character_class(p) for p in pieces])


def position_table(model: nn.Module) -> torch.Tensor:
    """The model's position vectors (block_size, C): its learned table, or its fixed sinusoids."""
    net: Any = uncompiled(model)
    learned = getattr(net, "position_embedding", None)
    if learned is not None:
        return learned.weight.detach().float().cpu()
    sines = getattr(net, "sinusoidal_table", None)
    if sines is not None:
        return sines.detach().float().cpu()
    raise ValueError(
        f"a {type(net).__name__} adds no position vectors (RoPE turns q and k instead, or it has "
        "none): train it with position='learned' to see a position table"
    )


def position_similarity(model: nn.Module) -> torch.Tensor:
    """(T, T) cosine similarity of every pair of position vectors: 1 on the diagonal."""
    table = position_table(model)
    unit = table / table.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return unit @ unit.T


def neighbour_similarity(similarity: torch.Tensor, distance: int) -> float:
    """The mean cosine similarity of positions `distance` apart: how fast the table forgets."""
    return similarity.diagonal(offset=distance).mean().item()
