"""One file per checkpoint: weights, both configs, the tokenizer, the step and the val loss, and,
to resume a run exactly, the optimizer, the batch generator's and dropout's random states and the
history so far.

Saved atomically (write a temporary file, then rename) and loaded with weights_only=True, so a
checkpoint holds only tensors and plain values and loading one runs no code. A save that fails
(a full disk, a read-only folder) is one CheckpointError that says what to do.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.tokenizers import Tokenizer, tokenizer_from_dict
from ..errors import CheckpointError, DamagedCheckpoint, PlaygroundError
from ..files import atomic_write
from ..nn.attention_lm import AttentionLanguageModel
from ..nn.base import LanguageModel, uncompiled
from ..nn.bigram import BigramLanguageModel
from ..nn.config import GPTConfig, config_from_dict, config_to_dict
from ..nn.gpt import GPT
from ..nn.variants import ExtendedGPT
from ..training.config import TrainConfig
from .optim import Optimizer

FORMAT_VERSION = 1
REQUIRED_FIELDS = ("format_version", "model", "state_dict", "tokenizer", "step", "val_loss")


def _gpt_args(model: Any) -> dict[str, Any]:
    return {"config": config_to_dict(model.config)}


# The models a checkpoint holds: the name each is saved under, and its constructor's arguments as
# plain values. A lesson GPT is saved as "gpt" and comes back as an ExtendedGPT: the same weights,
# with every switch and a KV cache.
SAVED_AS: dict[type, tuple[str, Callable[[Any], dict[str, Any]]]] = {
    GPT: ("gpt", _gpt_args),
    ExtendedGPT: ("gpt", _gpt_args),
    AttentionLanguageModel: (
        "attention_lm",
        lambda model: {**_gpt_args(model), "feed_forward": model.ffwd is not None},
    ),
    BigramLanguageModel: ("bigram", lambda model: {"vocab_size": model.vocab_size}),
}
BUILDERS: dict[str, Callable[[dict[str, Any]], LanguageModel]] = {
    "gpt": lambda spec: ExtendedGPT(_gpt_config(spec["config"])),
    "attention_lm": lambda spec: AttentionLanguageModel(_gpt_config(spec["config"]), spec["feed_forward"]),
    "bigram": lambda spec: BigramLanguageModel(spec["vocab_size"]),
}


def model_spec(model: nn.Module) -> dict[str, Any]:
    """What it takes to rebuild `model`: its kind and constructor arguments, as plain values."""
    model = uncompiled(model)
    if type(model) not in SAVED_AS:
        raise CheckpointError(f"cannot checkpoint a {type(model).__name__}: not a model of the course")
    kind, arguments = SAVED_AS[type(model)]
    return {"kind": kind, **arguments(model)}


def _gpt_config(saved: dict[str, Any]) -> GPTConfig:
    """The GPTConfig of a checkpoint, with what older files meant for the fields they lack."""
    older = {
        "activation": "gelu",  # saved before `activation` was a setting: trained with GELU
        "qkv_bias": saved.get("bias", GPTConfig.bias),  # before `qkv_bias`: q, k, v followed `bias`
        "embedding_dropout": True,  # before `embedding_dropout`: GPT always dropped on embeddings
    }
    return config_from_dict(GPTConfig, {**older, **saved})


def model_from_spec(spec: dict[str, Any]) -> LanguageModel:
    kind = spec.get("kind")
    if kind not in BUILDERS:
        raise CheckpointError(f"unknown model kind {kind!r} in checkpoint")
    return BUILDERS[kind](spec)


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    tokenizer: Tokenizer,
    train_config: TrainConfig | None = None,
    step: int = 0,
    val_loss: float | None = None,
    optimizer: Optimizer | None = None,
    trainer_state: dict[str, Any] | None = None,
    run_info: dict[str, Any] | None = None,
) -> Path:
    """Write everything needed to sample from or resume `model` into one file, atomically.

    `trainer_state` (Trainer.resume_state()) makes a resumed run the run it continues; `run_info`
    holds plain labels such as the CLI's preset name. A failed write raises CheckpointError and
    leaves any file already at `path` as it was.
    """
    path = Path(path)
    payload = {
        "format_version": FORMAT_VERSION,
        "model": model_spec(model),
        "state_dict": uncompiled(model).state_dict(),
        "train_config": config_to_dict(train_config) if train_config is not None else None,
        "tokenizer": tokenizer.to_dict(),
        "step": int(step),
        "val_loss": None if val_loss is None else float(val_loss),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "trainer_state": trainer_state,
        "run_info": run_info,
    }
    try:
        with atomic_write(path) as f:  # a reader sees the old file or the new one, never half of one
            torch.save(payload, f)
    except (OSError, RuntimeError) as error:  # RuntimeError: torch's zip writer on a full disk
        raise CheckpointError(_save_failure(path, error)) from None
    return path


_DISK_FULL = (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC))
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def _save_failure(path: Path, error: OSError | RuntimeError) -> str:
    """One line: why `path` could not be written, what to do, and what is still on disk."""
    if isinstance(error, RuntimeError) or error.errno in _DISK_FULL:
        # torch's own writer says "[enforce fail at inline_container.cc:...] unexpected pos ..."
        reason = "the disk is full (or the file hit a size limit)"
        advice = "free some disk space, or save into another folder"
    elif error.errno in _NOT_WRITABLE:
        reason = f"the folder cannot be written ({error.strerror})"
        advice = "make it writable, or save into another folder"
    else:
        reason = error.strerror or str(error)
        advice = "check the path, or save into another folder"
    kept = "it still holds the last good checkpoint" if path.is_file() else "nothing was saved there"
    return f"could not save {path}: {reason}: {advice}; {kept}"


def checkpoint_bytes(model: nn.Module) -> int:
    """About how large a checkpoint of `model` is: its weights and AdamW's two moments per parameter."""
    model = uncompiled(model)
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    moments = 2 * sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return weights + moments + (1 << 20)  # and a MiB for configs, tokenizer, history, zip headers


def check_writable(folder: str | os.PathLike) -> Path:
    """Create `folder` if need be and write a file into it, or raise a CheckpointError that says why not."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"{folder} is a file, not a folder: choose a folder for the checkpoints")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.")
        os.close(fd)
        os.remove(probe)
    except OSError as error:
        raise CheckpointError(
            f"cannot write into {folder} ({error.strerror or error}): choose a folder you can write to"
        ) from None
    return folder


def check_can_save(paths: list[Path], model: nn.Module) -> None:
    """Before a run's first step: each folder can be written, and its disk has room for these
    checkpoints plus the temporary copy a save writes beside the old file before replacing it."""
    size = checkpoint_bytes(model)
    for folder in dict.fromkeys(Path(p).parent for p in paths):
        check_writable(folder)
        here = [Path(p) for p in paths if Path(p).parent == folder]
        need = (len(here) + 1) * size - sum(p.stat().st_size for p in here if p.is_file())
        free = shutil.disk_usage(folder).free
        if free < need:
            raise CheckpointError(
                f"{folder} has {free / 1e6:,.1f} MB free, but this run keeps {len(here)} checkpoint(s) "
                f"of about {size / 1e6:,.1f} MB there and writes each beside the old one before "
                f"replacing it: it needs {need / 1e6:,.1f} MB. Free some disk space, or choose another folder"
            )


@dataclass
class Checkpoint:
    model: LanguageModel
    tokenizer: Tokenizer
    train_config: TrainConfig | None
    step: int
    val_loss: float | None
    optimizer_state: dict[str, Any] | None
    path: Path
    trainer_state: dict[str, Any] | None = None  # batches' and dropout's random states, the history
    run_info: dict[str, Any] | None = None  # labels such as the CLI's preset name


def _read_payload(path: Path, device: torch.device | str) -> dict[str, Any]:
    """The checkpoint's dict, with every required field, or a CheckpointError that says what is wrong."""
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder: pass the checkpoint file in it ({path / 'ckpt.pt'})")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: train one first, or check the path")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # truncated zip, foreign pickle, wrong file type
        detail = f"{type(error).__name__}: {_torch_reason(error, limit=2000)}".rstrip(": ")
        raise DamagedCheckpoint(_unreadable(path, error), path, detail) from None
    if not isinstance(payload, dict):
        raise DamagedCheckpoint(f"{path} is not a checkpoint: it holds a {type(payload).__name__}", path)
    missing = [field for field in REQUIRED_FIELDS if field not in payload]
    if missing:
        raise DamagedCheckpoint(
            f"{path} is not a checkpoint of this course: it lacks {', '.join(missing)} (it was not written "
            "by attention-playground's save_checkpoint, or by an incompatible version)",
            path,
        )
    return payload


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive


def _unreadable(path: Path, error: Exception) -> str:
    """In plain words, why torch.load could not read `path`: cut short, foreign, or holding code."""
    with open(path, "rb") as f:
        head = f.read(len(_ZIP_MAGIC))
    if not head:
        return f"{path} is damaged: the file is empty (a save or a copy that never finished?)"
    if isinstance(error, pickle.UnpicklingError) and "weights" in str(error).lower():
        return (
            f"{path} is not a checkpoint of this course: it holds objects other than tensors and plain "
            "values, which are never loaded"
        )
    if head == _ZIP_MAGIC:
        return f"{path} is damaged: it was cut short or corrupted (a save or a copy that did not finish?)"
    return f"{path} is not a checkpoint: it is not a file that torch.save writes"


# Sentences of torch's errors that must never reach a learner: retrying with weights_only=False runs
# whatever code the file holds.
_UNSAFE_ADVICE = re.compile(r"weights.only|trusted source|documentation of torch\.load", re.IGNORECASE)


def _torch_reason(error: BaseException, limit: int = 200) -> str:
    """The informative part of a torch.load error, on one line, without its unsafe advice."""
    sentences = re.split(r"(?<=[.!?])\s+|\n+", str(error))
    kept = [s.strip() for s in sentences if s.strip() and not _UNSAFE_ADVICE.search(s)]
    if not kept and str(error).strip():  # every sentence was advice to load code
        return "it holds objects other than tensors and plain values, which are never loaded"
    return " ".join(kept)[:limit]


def load_checkpoint(
    path: str | os.PathLike,
    device: torch.device | str = "cpu",
    tokenizer: Tokenizer | None = None,
) -> Checkpoint:
    """Rebuild the model and tokenizer of a checkpoint. Passing `tokenizer` checks that it matches."""
    path = Path(path)
    payload = _read_payload(path, device)
    try:
        model = model_from_spec(payload["model"])
        saved_tokenizer = tokenizer_from_dict(payload["tokenizer"])
        train_config = (
            config_from_dict(TrainConfig, payload["train_config"]) if payload.get("train_config") else None
        )
    except (PlaygroundError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path} has an unusable configuration: {error}") from None
    if saved_tokenizer.vocab_size != model.vocab_size:
        raise CheckpointError(
            f"{path} is inconsistent: its tokenizer has {saved_tokenizer.vocab_size} tokens but its "
            f"model has vocab_size={model.vocab_size}"
        )
    if tokenizer is not None and tokenizer.to_dict() != saved_tokenizer.to_dict():
        raise CheckpointError(
            f"{path} was trained with a {saved_tokenizer.name} vocabulary of "
            f"{saved_tokenizer.vocab_size} tokens, which differs from the given {tokenizer.name} "
            f"tokenizer's {tokenizer.vocab_size}: use the checkpoint's own tokenizer, or retrain"
        )
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        first = str(error).splitlines()
        raise CheckpointError(
            f"{path}: the weights do not fit the model its config describes: "
            f"{' '.join(line.strip() for line in first[:3])[:300]}"
        ) from None
    model.to(device)
    return Checkpoint(
        model=model,
        tokenizer=saved_tokenizer,
        train_config=train_config,
        step=int(payload["step"]),
        val_loss=payload["val_loss"],
        optimizer_state=payload.get("optimizer"),
        path=path,
        trainer_state=payload.get("trainer_state"),
        run_info=payload.get("run_info"),
    )
