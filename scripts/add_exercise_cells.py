"""Insert the "Your turn" cells into notebooks 00-06: a markdown task, then one code cell with a skeleton
and its check. Only sources change: new code cells have no outputs and no execution count, so run
the notebooks afterwards (scripts/run_notebooks.sh) to save them with outputs.

Idempotent: a notebook that already has an exercise's cells keeps them as they are. Each exercise is
anchored after a cell id; where the anchor is a markdown cell that goes on to the next section, the
cell is split at `split_at` and the exercise goes between the two halves.

    python scripts/add_exercise_cells.py
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import NamedTuple

import nbformat

ROOT = Path(__file__).resolve().parents[1]
HOW = (
    "Run the cell as it is and it prints *not done yet*. Replace the `raise` lines with your code and run "
    "it again: a wrong answer gets a message that names the mistake, shows the smallest input where it "
    "shows, and gives a hint (one answer is in `attention_playground/solutions.py`)."
)


class YourTurn(NamedTuple):
    notebook: str
    key: str  # the cells' ids are your-turn-<key> and your-turn-<key>-code
    after: str  # the id of the cell it follows
    split_at: str | None  # where to split that (markdown) cell, if it goes on to the next section
    task: str  # markdown, without the HOW paragraph
    code: str


def _cells(turn: YourTurn) -> list[dict]:
    markdown = {
        "cell_type": "markdown",
        "id": f"your-turn-{turn.key}",
        "metadata": {},
        "source": _lines(f"{textwrap.dedent(turn.task).strip()}\n\n{textwrap.fill(HOW, 100)}"),
    }
    code = {
        "cell_type": "code",
        "execution_count": None,
        "id": f"your-turn-{turn.key}-code",
        "metadata": {},
        "outputs": [],
        "source": _lines(textwrap.dedent(turn.code).strip()),
    }
    return [markdown, code]


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def insert(nb: dict, turn: YourTurn) -> bool:
    """Insert one exercise's cells; False where they are there already."""
    ids = [cell.get("id") for cell in nb["cells"]]
    if f"your-turn-{turn.key}" in ids:
        return False
    at = ids.index(turn.after)
    new = _cells(turn)
    if turn.split_at is not None:
        anchor = nb["cells"][at]
        text = "".join(anchor["source"])
        head, marker, tail = text.partition(turn.split_at)
        if not marker:
            raise SystemExit(f"{turn.notebook}: {turn.split_at!r} is not in cell {turn.after}")
        anchor["source"] = _lines(head.rstrip("\n"))
        rest = {
            "cell_type": "markdown",
            "id": f"{turn.after}-rest",
            "metadata": {},
            "source": _lines(marker + tail),
        }
        new.append(rest)
    nb["cells"][at + 1 : at + 1] = new
    return True


def main() -> None:
    by_notebook: dict[str, list[YourTurn]] = {}
    for turn in YOUR_TURNS:
        by_notebook.setdefault(turn.notebook, []).append(turn)
    for name, turns in by_notebook.items():
        path = ROOT / "notebooks" / f"{name}.ipynb"
        nb = json.loads(path.read_text(encoding="utf-8"))
        added = [turn.key for turn in turns if insert(nb, turn)]
        nbformat.validate(nbformat.from_dict(nb))
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{path.name}: added {', '.join(added) or 'nothing (all there)'}")


YOUR_TURNS = [
    YourTurn(
        "00_data_and_tokenizers",
        "char-tokenizer",
        "cell-07",
        "## 3. GPT-2's tokenizer",
        """
        ### Your turn: a character tokenizer

        Write `my_tokenizer(text)`, returning two functions as the lecture does: `encode(s)`, the list of
        ids of the characters of `s`, and `decode(ids)`, the string back. The ids number the distinct
        characters of `text` in sorted order, from 0. The check builds your tokenizer from three short
        texts and verifies the ids and that `decode(encode(text)) == text`.
        """,
        """
        from attention_playground.exercises import check_char_tokenizer


        def my_tokenizer(text: str):
            \"\"\"(encode, decode) for the characters of `text`, numbered in sorted order.\"\"\"
            raise NotImplementedError("your turn")


        check_char_tokenizer(my_tokenizer)
        """,
    ),
    YourTurn(
        "00_data_and_tokenizers",
        "split",
        "cell-17",
        None,
        """
        ### Your turn: the train/validation split

        Write `my_split(data, val_fraction)`, returning `(train, val)`: the first `1 - val_fraction` of
        the tokens (rounded down, as `int()` does), then the rest, both in the order of the text. The
        check runs it on `torch.arange(N)`, where every token is its own position, so a swapped,
        shuffled or overlapping split shows at once.
        """,
        """
        import torch

        from attention_playground.exercises import check_split


        def my_split(data: torch.Tensor, val_fraction: float):
            \"\"\"(train, val): the first (1 - val_fraction) of the tokens, then the rest.\"\"\"
            raise NotImplementedError("your turn")


        check_split(my_split)
        """,
    ),
    YourTurn(
        "00_data_and_tokenizers",
        "get-batch",
        "cell-26",
        None,
        """
        ### Your turn: a batch of blocks

        Write `my_get_batch(data, batch_size, block_size, generator)`, returning `(x, y)`, both
        `(batch_size, block_size)`: `batch_size` windows of `data` at random offsets, and `y` the same
        windows shifted by one token. Draw the offsets with `generator`, so that the same seed gives the
        same batch. The check verifies the shapes, that each row of `x` is a window and `y` its shift,
        that every window that fits can be drawn (and none that does not), and that the generator alone
        decides the batch.
        """,
        """
        import torch

        from attention_playground.exercises import check_get_batch


        def my_get_batch(data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator):
            \"\"\"(x, y), each (batch_size, block_size): random windows of data, y shifted by one.\"\"\"
            raise NotImplementedError("your turn")


        check_get_batch(my_get_batch)
        """,
    ),
    YourTurn(
        "01_bigram",
        "bigram-loss",
        "cell-11",
        None,
        """
        ### Your turn: the loss with its reshape

        Write `my_bigram_loss(logits, targets)`: logits `(B, T, V)` and targets `(B, T)` in, the mean
        cross-entropy over all `B * T` positions out, a scalar, computed with `F.cross_entropy`. The
        check compares it with `LanguageModel.loss` on shapes where `B != T`, so that a reshape which
        mixes batch and time cannot pass by luck.
        """,
        """
        import torch

        from attention_playground.exercises import check_bigram_loss


        def my_bigram_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            \"\"\"Mean cross-entropy of (B, T, V) logits against (B, T) targets.\"\"\"
            raise NotImplementedError("your turn")


        check_bigram_loss(my_bigram_loss)
        """,
    ),
    YourTurn(
        "01_bigram",
        "bigram-counts",
        "cell-27",
        "Next: [02",
        """
        ### Your turn: count the bigrams

        Write `my_bigram_counts(tokens, vocab_size)`, returning a `(V, V)` table like `probs` above: row
        `i` is the distribution of the token that follows token `i`, from the counts of neighbouring
        pairs in `tokens`, with one added to every count. The check compares your table with the
        counts of three short random sequences and verifies that every row sums to 1.
        """,
        """
        import torch

        from attention_playground.exercises import check_bigram_counts


        def my_bigram_counts(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
            \"\"\"(V, V): row i, P(next token | token i), from pair counts plus one.\"\"\"
            raise NotImplementedError("your turn")


        check_bigram_counts(my_bigram_counts)
        """,
    ),
    YourTurn(
        "02_bag_of_words",
        "causal-average",
        "cell-21",
        None,
        """
        ### Your turn: average the past

        Write `my_causal_average(x)`: `x` of shape `(B, T, C)` in, `(B, T, C)` out, position `t` the
        mean of positions `0 … t` of its own sequence. A double loop or a matrix product, as you like.
        The check compares it with `ap.causal_average` on five shapes, from one position to eight, and
        verifies that no position reads a later one.
        """,
        """
        import torch

        from attention_playground.exercises import check_causal_average


        def my_causal_average(x: torch.Tensor) -> torch.Tensor:
            \"\"\"(B, T, C) -> (B, T, C): position t, the mean of positions 0 … t.\"\"\"
            raise NotImplementedError("your turn")


        check_causal_average(my_causal_average)
        """,
    ),
    YourTurn(
        "03_masked_softmax",
        "masked-softmax",
        "cell-11",
        None,
        """
        ### Your turn: masked softmax

        Write `my_masked_softmax(scores)`: scores of shape `(..., T, T)` in, weights of the same shape
        out. Mask the scores above the diagonal (the future), then take a softmax over each row. It must
        work on one `(T, T)` matrix and on a batch of them. The check verifies zero weight above the
        diagonal, rows summing to 1, and the values of `ap.masked_softmax`.
        """,
        """
        import torch

        from attention_playground.exercises import check_masked_softmax


        def my_masked_softmax(scores: torch.Tensor) -> torch.Tensor:
            \"\"\"(..., T, T) scores -> weights: the future masked out, each row a softmax.\"\"\"
            raise NotImplementedError("your turn")


        check_masked_softmax(my_masked_softmax)
        """,
    ),
    YourTurn(
        "03_masked_softmax",
        "attention-scores",
        "cell-32",
        "## Summary",
        """
        ### Your turn: scaled scores

        Write `my_attention_scores(q, k)`: `q` and `k` of shape `(..., T, head_size)` in, scores
        `(..., T, T)` out, every query against every key, scaled so that unit-variance `q` and `k` give
        scores of variance about 1. The check compares it with `ap.attention_scores` on four shapes (a
        4 × 4 first) and measures the variance of your scores for head_size 64.
        """,
        """
        import torch

        from attention_playground.exercises import check_attention_scores


        def my_attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
            \"\"\"(..., T, hs) queries and keys -> (..., T, T) scaled scores.\"\"\"
            raise NotImplementedError("your turn")


        check_attention_scores(my_attention_scores)
        """,
    ),
    YourTurn(
        "04_self_attention",
        "attend",
        "81545518",
        None,
        """
        ### Your turn: one head's arithmetic

        Write `my_attend(q, k, v)`: queries, keys and values, each `(B, T, hs)`, in; `(B, T, hs)` out.
        These are the steps of sections 2 to 6: scores, scale, causal mask, softmax, weighted sum of the
        values. The check compares it with the library's teaching path,
        `ap.masked_softmax(ap.attention_scores(q, k)) @ v`, and verifies that changing a later key or
        value never changes an earlier output.
        """,
        """
        import torch

        from attention_playground.exercises import check_attend


        def my_attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            \"\"\"Causal attention: (B, T, hs) queries, keys, values -> (B, T, hs).\"\"\"
            raise NotImplementedError("your turn")


        check_attend(my_attend)
        """,
    ),
    YourTurn(
        "04_self_attention",
        "head",
        "d7f9caec",
        None,
        """
        ### Your turn: a `Head` of your own

        Write `MyHead(n_embd, head_size)`: an `nn.Module` with three linear layers called `query`, `key`
        and `value`, each `nn.Linear(n_embd, head_size, bias=False)` as in the lecture, and a
        `forward(x)` from `(B, T, n_embd)` to `(B, T, head_size)`: causal self-attention. Build the mask
        in `forward`, for the `T` of `x`. The check copies your three weight matrices into an `ap.Head`,
        compares the two outputs, and verifies that no token reads the future.
        """,
        """
        import torch
        from torch import nn

        from attention_playground.exercises import check_head


        class MyHead(nn.Module):
            def __init__(self, n_embd: int, head_size: int):
                super().__init__()
                raise NotImplementedError("your turn: the query, key and value layers")

            def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, n_embd) -> (B, T, head_size)
                raise NotImplementedError("your turn")


        check_head(MyHead)
        """,
    ),
    YourTurn(
        "05_multi_head_attention",
        "multi-head",
        "15e363c6",
        None,
        """
        ### Your turn: heads side by side

        Write `MyMultiHead(n_embd, n_head)`: an `nn.Module` with `heads`, an `nn.ModuleList` of `n_head`
        heads `ap.Head(n_embd, n_embd // n_head)`, and `proj`, an `nn.Linear(n_embd, n_embd)`. Its
        `forward(x)` takes `(B, T, n_embd)` to `(B, T, n_embd)`: every head on `x`, their outputs
        concatenated, then projected. The check copies your heads' weights into `ap.Head`s, compares the
        outputs, and looks at the shape that reaches `proj`.
        """,
        """
        import torch
        from torch import nn

        import attention_playground as ap
        from attention_playground.exercises import check_multi_head


        class MyMultiHead(nn.Module):
            def __init__(self, n_embd: int, n_head: int):
                super().__init__()
                raise NotImplementedError("your turn: self.heads and self.proj")

            def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, n_embd) -> (B, T, n_embd)
                raise NotImplementedError("your turn")


        check_multi_head(MyMultiHead)
        """,
    ),
    YourTurn(
        "05_multi_head_attention",
        "split-heads",
        "cb1dc477",
        None,
        """
        ### Your turn: split the channels into heads

        The batched module finds every head's queries, keys and values in one `(B, T, C)` tensor. Write
        `my_split_heads(x, n_head)`: `(B, T, C)` in, `(B, n_head, T, head_size)` out, head `h` holding
        channels `h * head_size` to `(h + 1) * head_size - 1` of every position. The check compares it
        with the reshape in `MultiHeadAttention.forward` on three shapes.
        """,
        """
        import torch

        from attention_playground.exercises import check_split_heads


        def my_split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
            \"\"\"(B, T, C) -> (B, n_head, T, head_size).\"\"\"
            raise NotImplementedError("your turn")


        check_split_heads(my_split_heads)
        """,
    ),
    YourTurn(
        "06_gpt",
        "feed-forward",
        "619a37a3",
        "## 2. Residual connections",
        """
        ### Your turn: the feed-forward layer

        Write `MyFeedForward(n_embd)`, the lecture's: `nn.Linear(n_embd, 4 * n_embd)`, a ReLU, and
        `nn.Linear(4 * n_embd, n_embd)` (biases or not, as you like; no dropout needed), with a
        `forward(x)` from `(B, T, C)` to `(B, T, C)`. The check finds your two linear layers, copies their
        weights into an `ap.FeedForward`, and compares the outputs.
        """,
        """
        import torch
        from torch import nn

        from attention_playground.exercises import check_feed_forward


        class MyFeedForward(nn.Module):
            def __init__(self, n_embd: int):
                super().__init__()
                raise NotImplementedError("your turn: Linear, ReLU, Linear")

            def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
                raise NotImplementedError("your turn")


        check_feed_forward(MyFeedForward)
        """,
    ),
    YourTurn(
        "06_gpt",
        "block",
        "f26de77f",
        None,
        """
        ### Your turn: the Block's forward

        The `__init__` below builds the library's sublayers. Write `forward(x)`, `(B, T, C)` to
        `(B, T, C)`, pre-norm as in the lecture and GPT-2: attention, then the feed-forward layer, each
        reading a LayerNorm of `x` and adding its output to `x`. The check loads your block's weights
        into an `ap.Block` of a small config and compares the outputs.
        """,
        """
        import torch
        from torch import nn

        import attention_playground as ap
        from attention_playground.exercises import check_block


        class MyBlock(nn.Module):
            def __init__(self, config: ap.GPTConfig):
                super().__init__()
                self.ln1 = nn.LayerNorm(config.n_embd, bias=config.bias)
                self.attn = ap.MultiHeadAttention(config)
                self.ln2 = nn.LayerNorm(config.n_embd, bias=config.bias)
                self.ffwd = ap.FeedForward(config)

            def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
                raise NotImplementedError("your turn")


        check_block(MyBlock)
        """,
    ),
    YourTurn(
        "06_gpt",
        "gpt-forward",
        "86c37982",
        None,
        """
        ### Your turn: the GPT's forward

        Write `my_gpt_forward(model, idx)`: `model` is an `ap.GPT` (use its `token_embedding`,
        `position_embedding`, `blocks`, `ln_f` and `lm_head`), `idx` is `(B, T)` with
        `T <= block_size`; return the logits, `(B, T, vocab_size)`. The check compares them with the
        logits of `model(idx)` for `T` from 1 to `block_size`.
        """,
        """
        import torch

        from attention_playground.exercises import check_gpt_forward


        def my_gpt_forward(model, idx: torch.Tensor) -> torch.Tensor:
            \"\"\"(B, T) token ids -> (B, T, vocab_size) logits, from the parts of `model`.\"\"\"
            raise NotImplementedError("your turn")


        check_gpt_forward(my_gpt_forward)
        """,
    ),
    YourTurn(
        "06_gpt",
        "next-token",
        "36f98e14",
        "## 9. The same model with GPT-2's tokenizer",
        """
        ### Your turn: sample the next token

        Write `my_next_token(logits, temperature, top_k, generator)`: `logits` of the last position,
        `(B, V)`, in; `(B, 1)` token ids out, drawn with `torch.multinomial(..., generator=generator)`
        from the softmax of `logits / temperature` (`temperature > 0`), keeping only the `top_k` largest
        logits when `top_k` is not `None`. The check draws 20,000 tokens for each of five settings,
        compares their frequencies with the probabilities, and verifies that the same seed gives the
        same tokens.
        """,
        """
        import torch

        from attention_playground.exercises import check_next_token


        def my_next_token(
            logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator
        ) -> torch.Tensor:
            \"\"\"(B, V) logits -> (B, 1) sampled token ids.\"\"\"
            raise NotImplementedError("your turn")


        check_next_token(my_next_token)
        """,
    ),
]


if __name__ == "__main__":
    main()
