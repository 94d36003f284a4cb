"""What a run folder holds, and how `train --resume` and `sample` find the file they need in it.

A run folder (train's --out) holds ckpt.pt, the checkpoint with the best val loss, and last.pt, the
state at the latest evaluation. `sample` takes the best and `--resume` the latest, each falling back
on the other. A file that cannot be read gets one line that says whether the other file of its
folder is good, and how to use it. Each checkpoint records the text it trained on (its sha256 and
the split sizes), so that --resume can refuse a text that has changed since.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import CheckpointError, DamagedCheckpoint, PlaygroundError

if TYPE_CHECKING:
    import torch

    from ..data.tokenizers import Tokenizer
    from ..training.checkpoint import Checkpoint

Use = Literal["sample", "resume"]


def checkpoint_file(folder: str | os.PathLike) -> Path:
    """Where the command line keeps a run's best checkpoint."""
    return Path(folder) / "ckpt.pt"


def latest_file(folder: str | os.PathLike) -> Path:
    """Where the command line keeps a run's latest state, the one --resume continues."""
    return Path(folder) / "last.pt"


def run_files(folder: str | os.PathLike) -> tuple[Path, Path]:
    """A run folder's best checkpoint (ckpt.pt) and its latest state (last.pt)."""
    return checkpoint_file(folder), latest_file(folder)


def checkpoint_in(path: str | Path, use: Use) -> Path:
    """`path` if a file; in a run folder its ckpt.pt to sample, its last.pt to resume (or the other)."""
    path = Path(path)
    if not path.is_dir():
        return path
    best, latest = run_files(path)
    for candidate in (best, latest) if use == "sample" else (latest, best):
        if candidate.is_file():
            return candidate
    raise PlaygroundError(
        f"{path} is a folder with no checkpoint in it (neither ckpt.pt nor last.pt): train into it "
        "first, or name a checkpoint file"
    )


def load_from_run(path: str | Path, use: Use, device: torch.device | str = "cpu") -> Checkpoint:
    """load_checkpoint(path); where the file is damaged, the line also names its folder's good file."""
    from ..training.checkpoint import load_checkpoint

    path = Path(path)
    try:
        return load_checkpoint(path, device=device)
    except DamagedCheckpoint as error:
        raise DamagedCheckpoint(f"{error}{_what_else(path, use)}", path, error.detail) from None


def _what_else(damaged: Path, use: Use) -> str:
    """The rest of a damaged file's line: the other file of its folder where it loads, and how to use it."""
    from ..training.checkpoint import load_checkpoint

    again = ", or start a new run there with --force" if use == "resume" else ""
    for other in run_files(damaged.parent):
        if other.resolve() == damaged.resolve() or not other.is_file():
            continue
        try:
            step = load_checkpoint(other).step
        except CheckpointError:
            continue
        how = f"--resume {other}" if use == "resume" else f"--checkpoint {other}"
        return f"; {other} is good (saved after step {step + 1}): {use} from it with {how}{again}"
    return (
        f"; no other checkpoint in {damaged.parent} is good: start a new run there with --force"
        if use == "resume"
        else ""
    )


def corpus_record(text: str, train_tokens: int, val_tokens: int) -> dict[str, Any]:
    """What a checkpoint keeps of the text it trained on: enough to tell whether a text is the same."""
    return {
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "characters": len(text),
        "train_tokens": train_tokens,
        "val_tokens": val_tokens,
    }


def folder_of_run(resume: bool | str, out: str | None, default: str) -> Path:
    """The folder a run lives in: --out (else `default`), or with --resume RUN the folder RUN names."""
    if not isinstance(resume, str):
        return Path(out or default)
    named = Path(resume)
    if not named.exists():
        raise PlaygroundError(f"--resume {named}: there is no such run folder or checkpoint: check the path")
    folder = named if named.is_dir() else named.parent
    if out is not None and Path(out).resolve() != folder.resolve():
        raise PlaygroundError(
            f"--resume {named} continues the run in {folder}, but --out names {out}: a run goes on in "
            "its own folder, so drop --out"
        )
    return folder


def check_same_text(checkpoint: Checkpoint, text: str, data: str) -> None:
    """A resumed run trains on the text it began with; a checkpoint without its record gets a note."""
    saved = (checkpoint.run_info or {}).get("corpus")
    if saved is None:
        print(f"note: {checkpoint.path} predates the record of its text: {data} cannot be checked against it")
        return
    refuse_changed_text(saved, text, checkpoint.tokenizer, data, checkpoint.path)


def refuse_changed_text(
    saved: dict[str, Any], text: str, tokenizer: Tokenizer, data: str, path: Path
) -> None:
    """--resume goes on with the text its run began with: another one is refused in one line."""
    from ..data.corpus import split
    from ..data.tokenizers import encode_corpus

    now = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if now == saved.get("sha256"):
        return
    changes = [f"sha256 {str(saved.get('sha256'))[:12]}… then, {now[:12]}… now"]
    if saved.get("characters") == len(text):
        changes.append(f"the same number of characters, {len(text):,}, in another order or edited")
    else:
        changes.append(f"{saved.get('characters', 0):,} characters then, {len(text):,} now")
    try:
        splits = split(encode_corpus(text, tokenizer))
    except PlaygroundError:
        changes.append("characters its tokenizer has never seen")
    else:
        for name, size in (("train", len(splits.train)), ("val", len(splits.val))):
            if saved.get(f"{name}_tokens") != size:
                changes.append(f"{saved.get(f'{name}_tokens', 0):,} {name} tokens then, {size:,} now")
    raise PlaygroundError(
        f"{data} is not the text {path} was trained on: it has changed since ({'; '.join(changes)}): "
        "--resume continues a run on the text it began with, and --change-settings does not cover "
        "data: put the text back as it was, or start a new run in another --out (or with --force)"
    )
