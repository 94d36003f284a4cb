"""The errors a learner can meet. Each message says what to change."""


class PlaygroundError(Exception):
    """Base class: the CLI prints these as one line, without a traceback."""

    detail = ""  # the underlying library's own words, where there are any: the CLI shows them with --verbose


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


class DamagedCheckpoint(CheckpointError):
    """A file that cannot be read as a checkpoint: cut short, corrupted, or some other kind of file."""

    def __init__(self, message: str, path: object, detail: str = ""):
        super().__init__(message)
        self.path, self.detail = path, detail


class TrainingDiverged(PlaygroundError, RuntimeError):
    """The loss became NaN or infinite."""


class DistributedError(PlaygroundError, RuntimeError):
    """A torchrun launch that cannot work: a half-set environment, a missing backend, too few GPUs."""


class FolderBusy(PlaygroundError):
    """Another process holds the lock on the folder a run writes into."""


def require(condition: bool, message: str) -> None:
    """Raise a ConfigError with `message` unless `condition` holds."""
    if not condition:
        raise ConfigError(message)


SEED_LIMIT = 2**64  # torch's generators take seeds in [0, 2**64)


def check_seed(seed: object, name: str = "seed") -> None:
    """A seed torch accepts, said in one line: a whole number in [0, 2**64)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < SEED_LIMIT:
        raise ConfigError(f"{name}={seed!r} must be a whole number from 0 to 2**64 - 1")
