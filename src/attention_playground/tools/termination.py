"""SIGTERM, what `kill`, systemd and batch schedulers send, handled as Ctrl-C is.

Outside training it raises Terminated wherever the program is, as Ctrl-C raises KeyboardInterrupt.
During training (inside stop_at_next_step) it only asks: the training evaluates after the step it
is taking, the savers write last.pt (and ckpt.pt where it is the best), and then it stops. Under
torchrun the Trainer ORs the ranks' stop requests, so every rank stops after the same step. A second
SIGTERM does not wait.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

EXIT_CODE = 128 + signal.SIGTERM  # 143: what a shell reports for a process SIGTERM ended


class Terminated(BaseException):
    """SIGTERM arrived: raised where the program is (a BaseException, as KeyboardInterrupt is)."""


class StopWhenTerminated:
    """A Trainer callback on every rank: after a SIGTERM, evaluate (so the savers write) and stop."""

    every_rank = True

    def __init__(self) -> None:
        self.requested = False

    def on_step(self, trainer: Any, step: int, loss: float) -> None:
        if self.requested:
            trainer.request_eval()
            trainer.request_stop()


_stopper: StopWhenTerminated | None = None  # the training a SIGTERM asks to stop, while one runs


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if _stopper is not None and not _stopper.requested:
        _stopper.requested = True
        return
    raise Terminated


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """For the block, SIGTERM raises Terminated (or stops a training at its next step); then as before."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread takes signals
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def stop_at_next_step() -> Iterator[StopWhenTerminated]:
    """For the block, a SIGTERM sets the callback's `requested` instead of raising Terminated."""
    global _stopper
    stopper, outer = StopWhenTerminated(), _stopper
    _stopper = stopper
    try:
        yield stopper
    finally:
        _stopper = outer
