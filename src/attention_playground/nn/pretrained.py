"""GPT-2's published weights in the course's GPT: one table of names from Hugging Face's GPT-2 to ours.

GPT-2 is the course's GPT with every bias on, GELU through tanh, LayerNorm eps 1e-5, learned positions
and the output layer tied to the token table. Its Linear layers are `Conv1D`s that store the weight
as (in, out), so four of them are transposed on the way in. The weights come from a folder that
`save_pretrained` (ours or transformers') wrote, from the local Hugging Face cache, or once from the
hub with `huggingface_hub` (`pip install -e ".[pretrained]"`).
"""

from __future__ import annotations

import json
import socket
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import torch

from ..errors import CheckpointError
from ..files import atomic_write
from .config import GPTConfig

# The published sizes: (n_layer, n_head, n_embd); each reads 1,024 tokens of a 50,257-token vocabulary
GPT2_SIZES = {
    "gpt2": (12, 12, 768),  # 124M parameters
    "gpt2-medium": (24, 16, 1024),  # 355M
    "gpt2-large": (36, 20, 1280),  # 774M
    "gpt2-xl": (48, 25, 1600),  # 1.6B
}
HUB_OWNER = "openai-community"  # where the hub keeps them now; "gpt2" alone is the older name

# Hugging Face's name -> ours, per block ({i} is the block). Conv1D weights are stored (in, out).
BLOCK_NAMES = {
    "h.{i}.ln_1.weight": "blocks.{i}.ln1.weight",
    "h.{i}.ln_1.bias": "blocks.{i}.ln1.bias",
    "h.{i}.attn.c_attn.weight": "blocks.{i}.attn.qkv.weight",
    "h.{i}.attn.c_attn.bias": "blocks.{i}.attn.qkv.bias",
    "h.{i}.attn.c_proj.weight": "blocks.{i}.attn.proj.weight",
    "h.{i}.attn.c_proj.bias": "blocks.{i}.attn.proj.bias",
    "h.{i}.ln_2.weight": "blocks.{i}.ln2.weight",
    "h.{i}.ln_2.bias": "blocks.{i}.ln2.bias",
    "h.{i}.mlp.c_fc.weight": "blocks.{i}.ffwd.net.0.weight",
    "h.{i}.mlp.c_fc.bias": "blocks.{i}.ffwd.net.0.bias",
    "h.{i}.mlp.c_proj.weight": "blocks.{i}.ffwd.net.2.weight",
    "h.{i}.mlp.c_proj.bias": "blocks.{i}.ffwd.net.2.bias",
}
OUTER_NAMES = {
    "wte.weight": "token_embedding.weight",
    "wpe.weight": "position_embedding.weight",
    "ln_f.weight": "ln_f.weight",
    "ln_f.bias": "ln_f.bias",
}
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
MASK_BUFFERS = (".attn.bias", ".attn.masked_bias")  # the causal mask, saved as weights by older files


def gpt2_config(hf_config: Mapping[str, Any]) -> GPTConfig:
    """Our GPTConfig for a Hugging Face GPT-2 config.json (checked to be GPT-2's architecture)."""
    activation = hf_config.get("activation_function", "gelu_new")
    eps = hf_config.get("layer_norm_epsilon", 1e-5)
    if activation not in ("gelu_new", "gelu_pytorch_tanh") or eps != 1e-5:
        raise CheckpointError(
            f"config.json asks for activation {activation!r} and LayerNorm eps {eps}: "
            "only GPT-2's (GELU tanh, 1e-5) load into a GPT"
        )
    return GPTConfig(
        vocab_size=hf_config["vocab_size"], block_size=hf_config["n_positions"], n_embd=hf_config["n_embd"],
        n_head=hf_config["n_head"], n_layer=hf_config["n_layer"], dropout=0.0, bias=True, qkv_bias=True,
        activation="gelu_tanh", tie_weights=True,
    )  # fmt: skip


def name_pairs(n_layer: int) -> dict[str, str]:
    """Every Hugging Face name of a GPT-2 of n_layer blocks -> our name."""
    pairs = dict(OUTER_NAMES)
    for i in range(n_layer):
        pairs.update({hf.format(i=i): ours.format(i=i) for hf, ours in BLOCK_NAMES.items()})
    return pairs


def from_hf_state_dict(hf_state: Mapping[str, torch.Tensor], n_layer: int) -> dict[str, torch.Tensor]:
    """A Hugging Face GPT-2 state dict -> ours: names mapped, Conv1D weights transposed to (out, in),
    the mask buffers dropped, and lm_head tied to the token table."""
    state = {name.removeprefix("transformer."): tensor for name, tensor in hf_state.items()}
    state = {name: t for name, t in state.items() if not name.endswith(MASK_BUFFERS)}
    state.pop("lm_head.weight", None)  # the token table itself (tied), where a file keeps a copy
    pairs = name_pairs(n_layer)
    missing, unknown = sorted(set(pairs) - set(state)), sorted(set(state) - set(pairs))
    if missing or unknown:
        raise CheckpointError(
            f"not a GPT-2 of {n_layer} blocks: missing {missing[:3]}, unknown {unknown[:3]}"
        )
    ours = {}
    for hf, name in pairs.items():
        tensor = state[hf]
        ours[name] = tensor.t().contiguous() if hf.endswith(CONV1D) else tensor
    ours["lm_head.weight"] = ours["token_embedding.weight"]  # GPT-2 ties its output layer
    # and has no output bias, where our bias=True gives lm_head one: zero, the same logits
    ours["lm_head.bias"] = torch.zeros(ours["lm_head.weight"].size(0))
    return ours


def to_hf_state_dict(state: Mapping[str, torch.Tensor], n_layer: int) -> dict[str, torch.Tensor]:
    """Our GPT's state dict -> Hugging Face's names and layout (from_hf_state_dict, backwards)."""
    if state["lm_head.bias"].any():
        raise CheckpointError("GPT-2's output layer has no bias, and this model's lm_head.bias is not zero")
    out = {}
    for hf, name in name_pairs(n_layer).items():
        tensor = state[name].detach().cpu()
        out[f"transformer.{hf}"] = (tensor.t() if hf.endswith(CONV1D) else tensor).contiguous()
    return out


def hf_config(config: GPTConfig) -> dict[str, Any]:
    """The config.json transformers writes for a GPT-2 of this shape (and that gpt2_config reads)."""
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True, "vocab_size": config.vocab_size,
        "n_positions": config.block_size, "n_ctx": config.block_size, "n_embd": config.n_embd,
        "n_head": config.n_head, "n_layer": config.n_layer, "n_inner": None,
        "attn_pdrop": 0.0, "embd_pdrop": 0.0, "resid_pdrop": 0.0,
    }  # fmt: skip


def how_to_get(name: str) -> str:
    """The one line that says how to get the weights of `name`."""
    return (
        f'GPT-2\'s weights ({name!r}) are not on this machine: pip install -e ".[pretrained]" and run '
        f"GPT.from_pretrained({name!r}) once with a network (it keeps them in the Hugging Face cache), "
        "or pass the folder a save_pretrained wrote"
    )


def _safetensors() -> Any:
    try:
        import safetensors.torch
    except ImportError as error:
        raise CheckpointError(
            'reading and writing GPT-2 weights needs safetensors: pip install -e ".[pretrained]"'
        ) from error
    return safetensors.torch


def read_folder(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """config.json and the weights (model.safetensors, or an older pytorch_model.bin) of a folder."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{folder} has no config.json: pass a folder that save_pretrained wrote")
    if (folder / "model.safetensors").is_file():
        weights = _safetensors().load_file(str(folder / "model.safetensors"))
    elif (folder / "pytorch_model.bin").is_file():
        weights = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise CheckpointError(f"{folder} has no model.safetensors: pass a folder that save_pretrained wrote")
    return json.loads(config_path.read_text()), weights


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError:
        return None
    return huggingface_hub


def hub_answers(hub: Any, seconds: float = 3.0) -> bool:
    """One quick connection to the hub: without a network, huggingface_hub retries for half a minute."""
    if hub.constants.is_offline_mode():
        return False
    url = urllib.parse.urlsplit(hub.constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=seconds).close()
    except OSError:
        return False
    return True


def cached_folder(name: str, download: bool) -> Path | None:
    """The folder of `name`'s config.json and model.safetensors in the Hugging Face cache, fetched
    first where `download` is set and the hub answers; None where neither has them."""
    hub = _hub()
    if hub is None:
        return None
    for repo in (f"{HUB_OWNER}/{name}", name):
        found = [hub.try_to_load_from_cache(repo, f) for f in ("config.json", "model.safetensors")]
        if all(isinstance(path, str) for path in found):
            return Path(found[1]).parent
    if not download or not hub_answers(hub):
        return None
    try:
        paths = [hub.hf_hub_download(f"{HUB_OWNER}/{name}", f) for f in ("config.json", "model.safetensors")]
    except Exception:  # no network, the hub down, a proxy: all the same to the learner
        return None
    return Path(paths[1]).parent


def find_weights(name_or_path: str, download: bool = True) -> Path:
    """The folder that holds the weights: a folder given, or a size from the cache (or the hub)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if name_or_path not in GPT2_SIZES:
        raise CheckpointError(
            f"{name_or_path!r} is neither a folder nor a GPT-2 size: use one of {', '.join(GPT2_SIZES)}, "
            "or the folder a save_pretrained wrote"
        )
    folder = cached_folder(name_or_path, download)
    if folder is None:
        raise CheckpointError(how_to_get(name_or_path))
    return folder


def load_gpt2(cls: Any, name_or_path: str = "gpt2", download: bool = True) -> Any:
    """A `cls` (GPT or ExtendedGPT) holding GPT-2's weights, in eval mode, on the CPU."""
    hf, weights = read_folder(find_weights(name_or_path, download))
    config = gpt2_config(hf)
    model = cls(config)
    model.load_state_dict(from_hf_state_dict(weights, config.n_layer))  # copies in place: still tied
    return model.eval()


def check_gpt2_shaped(config: GPTConfig) -> None:
    """A model save_pretrained can write in GPT-2's layout, or one line that says what differs."""
    gpt2 = gpt2_config(hf_config(config))
    differs = [
        f"{name}={getattr(config, name)!r}"
        for name in ("bias", "qkv_bias", "activation", "tie_weights", "position", "norm", "residual",
                     "feed_forward", "attention_scale", "qk_norm")
        if getattr(config, name) != getattr(gpt2, name)
    ]  # fmt: skip
    if differs:
        raise CheckpointError(
            f"save_pretrained writes GPT-2's layout, and this model differs in {', '.join(differs)}: "
            "save it with save_checkpoint instead"
        )


def save_gpt2(model: Any, folder: str | Path) -> Path:
    """Write `model` as config.json and model.safetensors in Hugging Face's GPT-2 layout: a folder
    from_pretrained (ours, and transformers') reads back."""
    check_gpt2_shaped(model.config)
    folder = Path(folder)
    weights = to_hf_state_dict(model.state_dict(), model.config.n_layer)
    data = _safetensors().save(weights, metadata={"format": "pt"})  # the file's bytes
    for name, content in (("model.safetensors", data), ("config.json", _json_bytes(hf_config(model.config)))):
        with atomic_write(folder / name) as f:  # a file is whole, or as it was before
            f.write(content)
    return folder


def _json_bytes(values: dict[str, Any]) -> bytes:
    return (json.dumps(values, indent=2) + "\n").encode()


class GPT2Weights:
    """from_pretrained and save_pretrained, for the GPT classes that can hold GPT-2's weights."""

    @classmethod
    def from_pretrained(cls, name_or_path: str = "gpt2", download: bool = True) -> Self:
        """GPT-2's weights in this class: "gpt2" (124M) or a larger size, or a folder of save_pretrained.
        A size comes from the Hugging Face cache, or (download=True) from the hub once."""
        return load_gpt2(cls, name_or_path, download)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write this GPT-2-shaped model as config.json and model.safetensors (Hugging Face's layout)."""
        return save_gpt2(self, folder)
