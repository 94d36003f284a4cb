"""The errors a learner can meet. Each message says what to change."""


class PlaygroundError(Exception):
    """Base class: the CLI prints these as one line, without a traceback."""


class ConfigError(PlaygroundError, ValueError):
    """A config value that cannot work."""


class DataError(PlaygroundError, ValueError):
    """A corpus that cannot be read or is too short."""


class TokenizerError(PlaygroundError, ValueError):
    """Text the tokenizer cannot encode, or a tokenizer that cannot load."""


class AttentionError(PlaygroundError, ValueError):
    """A mask or a pair of sequences that attention cannot use."""


class CheckpointError(PlaygroundError, ValueError):
    """A checkpoint that is unreadable or does not fit."""


class TrainingDiverged(PlaygroundError, RuntimeError):
    """The loss became NaN or infinite."""


class DistributedError(PlaygroundError, RuntimeError):
    """A torchrun launch that cannot work: a half-set environment, a missing backend, too few GPUs."""


class FolderBusy(PlaygroundError):
    """Another process holds the lock on the folder a run writes into."""
