"""Data-parallel training past one process: torchrun starts N copies, each trains on its rows of a batch.

torchrun (PyTorch's launcher) starts one process per GPU (or per CPU share) and tells each who it
is through five environment variables: RANK (0..N-1 over every machine), LOCAL_RANK (0.. on this
machine, which picks the GPU), WORLD_SIZE (N), MASTER_ADDR and MASTER_PORT (where rank 0 listens).
`process_group()` reads them, joins the group (nccl between GPUs, gloo between CPU processes) and
leaves it on every way out. Inside, the Trainer wraps its model in DistributedDataParallel: every
rank draws the same global batch from the same seeded generator and trains on its own rows of it,
and DDP averages the gradients, so N ranks take the step one process would take on the whole batch.

Without those variables nothing here starts a group, and every helper answers as for one process.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ...errors import ConfigError, DistributedError

TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class TorchrunEnvironment:
    """Who this process is in a torchrun launch, as its environment variables say."""

    rank: int
    local_rank: int
    world_size: int
    local_world_size: int  # ranks on this machine: torchrun's LOCAL_WORLD_SIZE (or local_rank + 1)
    master_addr: str
    master_port: int


@dataclass(frozen=True)
class ProcessGroup:
    """The group this process joined: its rank, the group's size, its device and the backend."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _whole_number(environ: Mapping[str, str], name: str, minimum: int) -> int:
    text = environ[name]
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise DistributedError(f"{name}={text!r} must be a whole number >= {minimum}: start with torchrun")
    return value


def torchrun_environment(environ: Mapping[str, str] | None = None) -> TorchrunEnvironment | None:
    """This launch as torchrun described it; None where none of its variables is set (one process)."""
    environ = os.environ if environ is None else environ
    present = [name for name in TORCHRUN_VARIABLES if environ.get(name)]
    if not present:
        return None
    missing = [name for name in TORCHRUN_VARIABLES if name not in present]
    if missing:
        raise DistributedError(
            f"a half-set torchrun environment: {', '.join(present)} set but {', '.join(missing)} not: "
            f"start with `torchrun --nproc_per_node=N -m attention_playground train ...`, or unset "
            f"{', '.join(present)} to train in one process"
        )
    world_size = _whole_number(environ, "WORLD_SIZE", 1)
    rank, local_rank = _whole_number(environ, "RANK", 0), _whole_number(environ, "LOCAL_RANK", 0)
    if rank >= world_size:
        raise DistributedError(f"RANK={rank} must be below WORLD_SIZE={world_size}: start with torchrun")
    local_world_size = local_rank + 1
    if environ.get("LOCAL_WORLD_SIZE"):
        local_world_size = max(local_world_size, _whole_number(environ, "LOCAL_WORLD_SIZE", 1))
    port = _whole_number(environ, "MASTER_PORT", 1)
    return TorchrunEnvironment(rank, local_rank, world_size, local_world_size, environ["MASTER_ADDR"], port)


def rank_device(requested: str | None, launch: TorchrunEnvironment) -> torch.device:
    """This rank's device: GPU number LOCAL_RANK where CUDA is asked for (or auto finds it), else the CPU."""
    asked = requested or "auto"
    requested = ("cuda" if torch.cuda.is_available() else "cpu") if asked == "auto" else asked  # no MPS DDP
    if requested == "cpu":
        return torch.device("cpu")
    if requested.startswith("cuda:"):
        raise DistributedError(
            f"--device {requested} under torchrun: pass --device cuda, each rank takes GPU LOCAL_RANK"
        )
    if requested != "cuda":
        raise DistributedError(
            f"--device {requested} cannot train data-parallel (no backend for it): pass --device cuda or cpu"
        )
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if visible < launch.local_world_size:
        fix = f"pass --nproc_per_node={visible} or less, or --device cpu" if visible else "pass --device cpu"
        raise DistributedError(
            f"--device {asked} with {launch.local_world_size} ranks on this machine needs as many GPUs, but "
            f"{visible} are visible: {fix}"
        )
    return torch.device("cuda", launch.local_rank)


def backend_for(device: torch.device) -> str:
    """nccl between GPUs, gloo between CPU processes: the backends PyTorch recommends for each."""
    return "nccl" if device.type == "cuda" else "gloo"


def check_backend(backend: str) -> None:
    """A DistributedError that says what to do where this PyTorch lacks `backend`."""
    if not dist.is_available():
        raise DistributedError(
            f"this PyTorch ({torch.__version__}) was built without torch.distributed: install an "
            "official wheel to train with torchrun"
        )
    available = dist.is_nccl_available() if backend == "nccl" else dist.is_gloo_available()
    if not available:
        fix = (
            "install a CUDA build of PyTorch on Linux, or pass --device cpu to train over gloo"
            if backend == "nccl"
            else "install an official PyTorch wheel (they all have gloo)"
        )
        raise DistributedError(
            f"the {backend} backend is not available in this PyTorch ({torch.__version__}): {fix}"
        )


@contextlib.contextmanager
def process_group(device: str | None = "auto") -> Iterator[ProcessGroup | None]:
    """Join torchrun's process group for the block, and leave it on every way out; None without torchrun.

    The group is destroyed whether the block returns, raises or is interrupted (Ctrl-C).
    """
    launch = torchrun_environment()
    if launch is None:
        yield None
        return
    rank_dev = rank_device(device, launch)
    backend = backend_for(rank_dev)
    check_backend(backend)
    if rank_dev.type == "cuda":
        torch.cuda.set_device(rank_dev)  # before init, so nccl binds this rank to its own GPU
    dist.init_process_group(backend, init_method="env://", rank=launch.rank, world_size=launch.world_size)
    try:
        yield ProcessGroup(launch.rank, launch.local_rank, launch.world_size, rank_dev, backend)
    finally:
        dist.destroy_process_group()


def launched_rank() -> int | None:
    """This process's RANK as torchrun set it, read without a group; None where torchrun did not start it."""
    text = os.environ.get("RANK", "")
    return int(text) if text.isdigit() else None


# What a collective says when a peer is gone: gloo's "Connection reset by peer", nccl's errors, and so on.
_LOST_PEER = re.compile(r"gloo|nccl|connection (reset|closed|refused)|broken pipe", re.IGNORECASE)


def lost_a_peer(error: BaseException) -> bool:
    """Whether `error` is a collective's failure because another rank left (it failed, or was stopped)."""
    dist_error = getattr(dist, "DistError", None)
    if dist_error is not None and isinstance(error, dist_error):
        return True
    return isinstance(error, RuntimeError) and _LOST_PEER.search(str(error)) is not None


def is_active() -> bool:
    """Whether this process is in a process group now."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    return dist.get_world_size() if is_active() else 1


def is_main_process() -> bool:
    """Rank 0, or the only process: the one that prints, shows the progress bar and writes files."""
    return rank() == 0


def _all_reduce(tensor: torch.Tensor, op: Any) -> torch.Tensor:  # op: a dist.ReduceOp member
    """A reduced copy of `tensor` (on its own device); nccl reduces on the GPU, gloo on the CPU."""
    if not is_active():
        return tensor.clone()
    on = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else tensor.device
    reduced = tensor.detach().to(on, copy=True)
    dist.all_reduce(reduced, op=op)
    return reduced.to(tensor.device)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of `tensor` over every rank (a copy of it alone without a group)."""
    return _all_reduce(tensor, dist.ReduceOp.SUM)


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of `tensor` over every rank (a copy of it alone without a group)."""
    return all_reduce_sum(tensor) / world_size()


def any_rank(flag: bool) -> bool:
    """True on every rank where it is True on one, so that all ranks stop at the same step."""
    if not is_active():
        return flag
    return bool(_all_reduce(torch.tensor([float(flag)]), dist.ReduceOp.MAX).item())


def check_batch_divides(batch_size: int, ranks: int, grad_accum_steps: int) -> None:
    """Every rank's micro-batches hold the same number of rows: batch_size % (ranks x accum) == 0."""
    parts = ranks * grad_accum_steps
    if batch_size % parts:
        raise ConfigError(
            f"the global batch_size={batch_size} does not divide by {ranks} rank(s) x "
            f"grad_accum_steps={grad_accum_steps} = {parts}: pass a batch size that is a multiple of "
            f"{parts}, or another --nproc_per_node"
        )


def rank_share(batch: torch.Tensor, which: int | None = None, ranks: int | None = None) -> torch.Tensor:
    """Rank `which`'s rows of one global batch (this rank's by default): (B, ...) -> (B/N, ...).

    Rank r of N takes rows r*B/N to (r+1)*B/N, so the N shares, side by side, are the global batch.
    """
    which = rank() if which is None else which
    ranks = world_size() if ranks is None else ranks
    share = batch.size(0) // ranks
    return batch[which * share : (which + 1) * share]


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` in DistributedDataParallel inside a process group, else `model` itself."""
    if not is_active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    if device.type != "cuda":
        return DistributedDataParallel(model)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return DistributedDataParallel(model, device_ids=[index])


def gradient_sync(model: nn.Module | Callable[..., Any], sync: bool) -> contextlib.AbstractContextManager:
    """DDP's no_sync() for the micro-steps that only accumulate; a no-op for the step that syncs."""
    module = getattr(model, "_orig_mod", model)  # under torch.compile's wrapper
    if sync or not hasattr(module, "no_sync"):
        return contextlib.nullcontext()
    return module.no_sync()


def seed_for_rank(seed: int) -> None:
    """Different dropout on each rank (rank 0 keeps `seed`): rows of one batch drop out independently."""
    if rank() > 0:
        torch.manual_seed(seed + 1_000_003 * rank())


@contextlib.contextmanager
def quiet_unless_main() -> Iterator[None]:
    """Print only on the main process: other ranks' stdout goes nowhere inside the block."""
    if is_main_process():
        yield
        return
    with open(os.devnull, "w") as nowhere, contextlib.redirect_stdout(nowhere):
        yield
