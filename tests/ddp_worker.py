"""One rank of tests/test_distributed.py's data-parallel run: `torchrun ... tests/ddp_worker.py OUT STEPS`.

Trains the `tiny` preset for STEPS steps (evaluating every 10) with the best checkpoint in OUT, then
resumes that checkpoint for 10 steps more. Each rank writes what it saw to OUT/rank<r>.json.
"""

import dataclasses
import json
import sys
from pathlib import Path

import torch

from attention_playground import ExtendedGPT, get_preset, load_checkpoint, sample_text
from attention_playground.data.corpus import load_corpus
from attention_playground.training.runtime.distributed import process_group
from attention_playground.training.trainer import Trainer

SAMPLE_TOKENS = 60


def tiny_config(steps: int):
    return dataclasses.replace(get_preset("tiny").train, max_iters=steps, eval_interval=10, device="cpu")


def weights_checksum(model: torch.nn.Module) -> list[float]:
    """One number per parameter tensor: equal lists mean equal weights (to float32 printing)."""
    return [p.detach().double().sum().item() for p in model.parameters()]


def main(out: Path, steps: int) -> None:
    with process_group("cpu") as group:
        assert group is not None, "run me under torchrun"
        corpus = load_corpus("tinyshakespeare", "char")
        config = tiny_config(steps)
        torch.manual_seed(config.seed)
        model = ExtendedGPT(get_preset("tiny").model_config(corpus.tokenizer.vocab_size))
        path = out / "ckpt.pt"
        trainer = Trainer(model, corpus.splits, config, tokenizer=corpus.tokenizer, checkpoint_path=path)
        history = trainer.run()
        sample = sample_text(model.eval(), corpus.tokenizer, "\n", SAMPLE_TOKENS, 0.8, None, 1)
        longer = dataclasses.replace(config, max_iters=steps + 10)
        resumed = Trainer(ExtendedGPT(model.config), corpus.splits, longer, resume=load_checkpoint(path))
        resumed_at = resumed.step
        resumed_history = resumed.run()
        result = {
            "rank": group.rank,
            "world_size": group.world_size,
            "backend": group.backend,
            "step_losses": history.step_losses,
            "eval_steps": history.eval_steps,
            "val_loss": history.val_loss,
            "train_loss": history.train_loss,
            "learning_rates": history.learning_rates,
            "tokens_seen": history.tokens_seen,
            "seconds": history.seconds,
            "weights": weights_checksum(model),
            "sample": sample,
            "resumed_at": resumed_at,
            "resumed_step": resumed.step,
            "resumed_learning_rates": resumed_history.learning_rates[resumed_at:],  # the steps run after it
        }
    (out / f"rank{group.rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
