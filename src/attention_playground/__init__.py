"""Attention Playground: the small library under a course that builds a GPT from scratch."""

from .course.show import show_source
from .data.batches import Splits, get_batch, split
from .data.corpus import load_text
from .data.tokenizers import (
    CharTokenizer,
    CompactGPT2Tokenizer,
    GPT2Tokenizer,
    encode_corpus,
    get_tokenizer,
    token_labels,
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
from .nn.attention import (
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
from .nn.attention_lm import AttentionLanguageModel
from .nn.base import LanguageModel
from .nn.bigram import BigramLanguageModel
from .nn.config import GPTConfig
from .nn.encoder import (
    DecoderBlock,
    Encoder,
    EncoderBlock,
    EncoderClassifier,
    EncoderConfig,
    EncoderDecoder,
    EncoderDecoderMaps,
)
from .nn.gpt import GPT, Block, FeedForward
from .nn.kv_cache import KVCache
from .nn.positions import SinusoidalPositions, sinusoidal_positions
from .nn.sampling import generate, sample_text, stream_text
from .nn.variants import ExtendedAttention, ExtendedBlock, ExtendedGPT
from .training.callbacks import Callback
from .training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .training.config import PRESETS, Preset, TrainConfig, get_preset
from .training.history import History
from .training.lecture import estimate_loss, simple_training_loop
from .training.runtime.device import pick_device, set_seed
from .training.schedule import learning_rate_at
from .training.trainer import Trainer, train

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
    "ExtendedAttention",
    "ExtendedBlock",
    "ExtendedGPT",
    "FeedForward",
    "GPT2Tokenizer",
    "GPTConfig",
    "Head",
    "History",
    "KVCache",
    "LanguageModel",
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
    "simple_training_loop",
    "sinusoidal_positions",
    "split",
    "stream_text",
    "token_labels",
    "train",
]
