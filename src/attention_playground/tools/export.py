"""`attention-playground export`: a checkpoint's attention over a prompt as one HTML file
(viz.export_explorer), to open in any browser with no Python."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import PlaygroundError

DESCRIPTION = (
    "Run --prompt through the model of --checkpoint and write its attention, every layer and head, "
    "as one self-contained HTML page (--out): layer, head, query and temperature sliders in plain "
    "JavaScript. It loads nothing from the network: open it in a browser, or send it to someone."
)


def add_command(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `export` to the CLI's subcommands."""
    export = commands.add_parser("export", help="write a checkpoint's attention explorer as an HTML file",
                                 description=DESCRIPTION)  # fmt: skip
    export.add_argument(
        "--checkpoint",
        required=True,
        help="a run folder written by `train` (its ckpt.pt, else its last.pt), or a checkpoint file",
    )
    export.add_argument("--prompt", required=True, help="the text whose attention the page shows")
    export.add_argument("--out", required=True, help="the HTML file to write, e.g. explorer.html")
    export.add_argument("--layer", type=int, default=0, help="the layer the page opens on (default: 0)")
    export.add_argument("--head", type=int, default=0, help="the head the page opens on (default: 0)")
    export.add_argument("--query", type=int, help="the query position it opens on (default: the last token)")
    export.add_argument("--force", action="store_true", help="replace --out if it exists")
    return export


def run(args: argparse.Namespace) -> None:
    """Load the checkpoint on the CPU, export its explorer, say where and how big."""
    from ..viz.export import describe_model, export_explorer
    from .run_folder import checkpoint_in, load_from_run

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise PlaygroundError(f"--out {out} does not end in .html: name the page something.html")
    if out.exists() and not args.force:
        raise PlaygroundError(f"{out} exists: pass --force to replace it, or choose another --out")
    checkpoint = load_from_run(checkpoint_in(args.checkpoint, "sample"), "sample", "cpu")
    model, tokenizer = checkpoint.model, checkpoint.tokenizer
    if not getattr(model, "has_attention", False):
        raise PlaygroundError(
            f"{args.checkpoint} holds a {type(model).__name__}: it has no attention to show"
        )
    title = f"Attention explorer: {describe_model(model)}, step {checkpoint.step} of {checkpoint.path.name}"
    try:
        path = export_explorer(model, tokenizer, args.prompt, out, args.layer, args.head, args.query, title)
    except ValueError as error:  # an empty prompt, an unknown character, a head out of range
        raise PlaygroundError(str(error)) from None
    print(f"wrote {path} ({path.stat().st_size:,} bytes): open it in a browser")
