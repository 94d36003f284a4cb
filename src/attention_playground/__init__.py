"""Attention Playground: the small library under a course that builds a GPT from scratch."""

from .attention import (
    AttentionMaps,
    CrossAttention,
    Head,
    MultiHeadAttention,
    attend,
    attend_with_maps,
    attention_scores,
    causal_average,
    causal_mask,
    key_padding_mask,
    masked_softmax,
)
from .bigram import BigramLanguageModel
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .config import PRESETS, GPTConfig, Preset, TrainConfig, get_preset
from .data import Splits, get_batch, load_text, split
from .device import pick_device, set_seed
from .encoder import (
    DecoderBlock,
    Encoder,
    EncoderBlock,
    EncoderClassifier,
    EncoderConfig,
    EncoderDecoder,
    EncoderDecoderMaps,
)
from .errors import (
    AttentionError,
    CheckpointError,
    ConfigError,
    DataError,
    PlaygroundError,
    TokenizerError,
    TrainingDiverged,
)
from .gpt import GPT, AttentionLanguageModel, Block, FeedForward
from .positions import SinusoidalPositions, sinusoidal_positions
from .sampling import KVCache, generate, sample_text, stream_text
from .show import show_source
from .tokenizers import (
    CharTokenizer,
    CompactGPT2Tokenizer,
    GPT2Tokenizer,
    encode_corpus,
    get_tokenizer,
    token_labels,
)
from .training import Callback, History, Trainer, estimate_loss, learning_rate_at, train

__version__ = "0.1.0"

__all__ = [
    "GPT",
    "PRESETS",
    "AttentionError",
    "AttentionLanguageModel",
    "AttentionMaps",
    "BigramLanguageModel",
    "Block",
    "Callback",
    "CharTokenizer",
    "Checkpoint",
    "CompactGPT2Tokenizer",
    "CheckpointError",
    "ConfigError",
    "CrossAttention",
    "DataError",
    "DecoderBlock",
    "Encoder",
    "EncoderBlock",
    "EncoderClassifier",
    "EncoderConfig",
    "EncoderDecoder",
    "EncoderDecoderMaps",
    "FeedForward",
    "GPT2Tokenizer",
    "GPTConfig",
    "Head",
    "History",
    "KVCache",
    "MultiHeadAttention",
    "PlaygroundError",
    "Preset",
    "SinusoidalPositions",
    "Splits",
    "TokenizerError",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "attend",
    "attend_with_maps",
    "attention_scores",
    "causal_average",
    "causal_mask",
    "encode_corpus",
    "estimate_loss",
    "generate",
    "get_batch",
    "get_preset",
    "get_tokenizer",
    "key_padding_mask",
    "learning_rate_at",
    "load_checkpoint",
    "load_text",
    "masked_softmax",
    "pick_device",
    "sample_text",
    "save_checkpoint",
    "set_seed",
    "show_source",
    "sinusoidal_positions",
    "split",
    "stream_text",
    "token_labels",
    "train",
]
