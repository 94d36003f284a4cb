"""The measuring parts of scripts/gpu_check.sh: python scripts/gpu_bench.py [options] PART...

Parts, each printed as it finishes:
  info    torch, CUDA and cuDNN versions, the host (CPU, threads, date), the GPU's name, memory, bf16
  probe   matmul rates of this device: float32 (TF32 off), TF32 and bfloat16, in TFLOP/s
  speed   ms/step, tokens/s and MFU of the lecture shape (batch 64, block 256): float32, --dtype auto,
          and --dtype auto with --compile; MFU is against the probed rate of the same precision
  kv      sampling tokens/s of the lecture-sized model, with and without the KV cache
  train   a preset (--preset, default lecture-fast; compiled unless --no-compile) trained on the
          device, each evaluation printed as it happens; with --stop-at 1.47, until val <= 1.47

--smoke shrinks every part to seconds on a CPU (the tiny preset, a few steps, small matmuls), so
CI can check this script runs; its figures mean nothing. It prints what it measured, asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch

from attention_playground import ExtendedGPT, get_preset
from attention_playground.data.corpus import Corpus, load_corpus
from attention_playground.tools.bench.measure import flops_per_token
from attention_playground.tools.machine import describe_machine
from attention_playground.training.callbacks import Callback, RunningTrainer
from attention_playground.training.runtime.precision import resolve_dtype
from attention_playground.training.trainer import Trainer

PARTS = ("info", "probe", "speed", "kv", "train")


@functools.cache
def shakespeare() -> Corpus:
    return load_corpus("tinyshakespeare", "char")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def info(device: torch.device) -> None:
    print(f"python {platform.python_version()}, torch {torch.__version__}, CUDA (torch built with) "
          f"{torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")  # fmt: skip
    print(f"host: {describe_machine()}")
    if device.type != "cuda":
        print(f"device: {device}")
        return
    props = torch.cuda.get_device_properties(device)
    print(
        f"device: {props.name}, {props.total_memory / 2**30:.1f} GiB, compute capability "
        f"{props.major}.{props.minor}, {props.multi_processor_count} SMs, "
        f"{torch.cuda.device_count()} GPU(s), bf16 supported: {torch.cuda.is_bf16_supported()}"
    )


def matmul_tflops(
    device: torch.device, dtype: torch.dtype, n: int, repeats: int, tf32: bool = False
) -> float:
    """TFLOP/s of an n x n x n matmul in `dtype`: the median of `repeats` timed after a warm-up."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        torch.mm(a, b)
        times = []
        for _ in range(repeats):
            synchronize(device)
            began = time.perf_counter()
            torch.mm(a, b)
            synchronize(device)
            times.append(time.perf_counter() - began)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    return 2 * n**3 / statistics.median(times) / 1e12


def probe(device: torch.device, smoke: bool) -> dict[str, float]:
    n, repeats = (256, 3) if smoke else (8192, 10)
    rates = {"float32": matmul_tflops(device, torch.float32, n, repeats)}
    if device.type == "cuda":
        rates["tf32"] = matmul_tflops(device, torch.float32, n, repeats, tf32=True)
    rates["bfloat16"] = matmul_tflops(device, torch.bfloat16, n, repeats)
    print(
        f"matmul {n}^3, median of {repeats}: " + ", ".join(f"{k} {v:.2f} TFLOP/s" for k, v in rates.items())
    )
    return rates


class StepClock(Callback):
    """The wall time of every step (train_step reads the loss, so a GPU has finished it by then)."""

    def on_run_begin(self, trainer: RunningTrainer) -> None:
        self.times, self.last = [], time.perf_counter()

    def on_step(self, trainer: RunningTrainer, step: int, loss: float) -> None:
        now = time.perf_counter()
        self.times.append(now - self.last)
        self.last = now


def probed_precision(dtype: str, precision: str) -> str:
    """Which probed rate a setting's matmuls run at: bf16 under autocast, TF32 for auto's float32 on CUDA."""
    if precision == "bfloat16":
        return "bfloat16"
    return "tf32" if dtype == "auto" else "float32"  # enable_tf32: on for every dtype but float32


def speed(device: torch.device, smoke: bool, rates: dict[str, float]) -> None:
    preset = get_preset("tiny" if smoke else "lecture")
    corpus = shakespeare()
    warm, timed = (2, 3) if smoke else (15, 60)
    settings = [("float32", False)] if smoke else [("float32", False), ("auto", False), ("auto", True)]
    for dtype, compile in settings:
        torch.manual_seed(0)
        model = ExtendedGPT(preset.model_config(corpus.tokenizer.vocab_size))
        config = dataclasses.replace(preset.train, max_iters=warm + timed, eval_iters=1, device=str(device),
                                     dtype=dtype, compile=compile)  # fmt: skip
        clock = StepClock()
        Trainer(model, corpus.splits, config, callbacks=[clock]).run()
        seconds = statistics.median(clock.times[warm:])
        tokens_per_s = config.batch_size * model.config.block_size / seconds
        achieved = flops_per_token(model) * tokens_per_s / 1e12
        precision = resolve_dtype(device, dtype)
        peak = rates.get(probed_precision(dtype, precision)) or rates.get("float32")
        mfu = f"{achieved / peak:.0%} of the probed {peak:.1f}" if peak else "no probe"
        print(f"speed {preset.name} shape, batch {config.batch_size}, dtype {dtype} ({precision}), compile "
              f"{compile}: {seconds * 1e3:.1f} ms/step (median of {timed}), {tokens_per_s:,.0f} tokens/s, "
              f"{achieved:.2f} TFLOP/s, MFU {mfu} TFLOP/s")  # fmt: skip


def kv(device: torch.device, smoke: bool) -> None:
    preset = get_preset("tiny" if smoke else "lecture")
    new_tokens = 50 if smoke else 1000
    torch.manual_seed(0)
    model = ExtendedGPT(preset.model_config(65)).to(device).eval()
    idx = torch.zeros((1, 1), dtype=torch.long, device=device)
    outs, rates = {}, {}
    for use_cache in (False, True, False, True):  # the first pair warms up
        synchronize(device)
        began = time.perf_counter()
        outs[use_cache] = model.generate(idx, new_tokens, temperature=0.0, use_cache=use_cache)
        synchronize(device)
        rates[use_cache] = new_tokens / (time.perf_counter() - began)
    within = min(model.config.block_size, new_tokens)
    same = torch.equal(outs[False][:, :within], outs[True][:, :within])
    print(
        f"kv cache, {preset.name}-sized model ({model.num_params() / 1e6:.2f}M), {new_tokens} greedy "
        f"tokens, batch 1: {rates[False]:,.0f} tokens/s without the cache, {rates[True]:,.0f} with "
        f"({rates[True] / rates[False]:.1f}x); first {within} tokens identical: {same}"
    )


class EvalLog(Callback):
    """Print (step, val, seconds) at each evaluation as it happens; stop at the first val <= stop_at."""

    def __init__(self, stop_at: float | None):
        self.stop_at, self.reached = stop_at, None

    def on_eval(self, trainer: RunningTrainer, step: int, losses: dict[str, float]) -> None:
        seconds = trainer.history.seconds
        train, val = losses["train"], losses["val"]
        print(f"  step {step + 1:5d}: train {train:.4f}, val {val:.4f} at {seconds:7.1f} s", flush=True)
        if self.stop_at is not None and self.reached is None and val <= self.stop_at:
            self.reached = (step + 1, seconds)
            trainer.request_stop()


def train(
    device: torch.device, smoke: bool, name: str, dtype: str | None, compile: bool, stop_at: float | None
):
    """A preset trained on `device` (to val <= stop_at, where given), its evaluations printed live."""
    preset = get_preset("tiny" if smoke else name)
    corpus = shakespeare()
    changes = {"max_iters": 20, "eval_interval": 10, "eval_iters": 2} if smoke else {}
    config = dataclasses.replace(preset.train, device=str(device), dtype=dtype or preset.train.dtype,
                                 compile=compile, **changes)  # fmt: skip
    torch.manual_seed(config.seed)
    model = ExtendedGPT(preset.model_config(corpus.tokenizer.vocab_size))
    print(f"train {preset.name}: {model.num_params() / 1e6:.2f}M parameters, {config.max_iters} steps, batch "
          f"{config.batch_size}, dtype {config.dtype} -> {resolve_dtype(device, config.dtype)}, "
          f"compile {compile}", flush=True)  # fmt: skip
    log = EvalLog(stop_at)
    history = Trainer(model, corpus.splits, config, callbacks=[log]).run()
    goal = ""
    if stop_at is not None:
        reached = f"at step {log.reached[0]}, {log.reached[1]:.1f} s" if log.reached else "NOT reached"
        goal = f"val <= {stop_at} {reached}; "
    included = "evaluations and compilation" if compile else "evaluations"
    print(
        f"train {preset.name}: {goal}{len(history.step_losses)} steps, final val {history.val_loss[-1]:.4f} "
        f"(best {history.best_val_loss:.4f}), {history.seconds:.1f} s ({included} included), "
        f"{history.tokens_per_second:,.0f} tokens/s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", choices=PARTS)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="seconds on a CPU: the script runs, no figure")
    parser.add_argument("--preset", default="lecture-fast", help="train: which preset (default lecture-fast)")
    parser.add_argument("--dtype", help="train: auto | float32 | bfloat16 (default: the preset's)")
    parser.add_argument("--no-compile", action="store_true", help="train: without torch.compile")
    parser.add_argument("--stop-at", type=float, help="train: stop at the first evaluation with val <= this")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    compile = not args.no_compile and not args.smoke  # compiling takes longer than the smoke itself
    rates: dict[str, float] = {}
    runners: dict[str, Callable[[], object]] = {
        "info": lambda: info(device),
        "probe": lambda: rates.update(probe(device, args.smoke)),
        "speed": lambda: speed(device, args.smoke, rates or probe(device, args.smoke)),
        "kv": lambda: kv(device, args.smoke),
        "train": lambda: train(device, args.smoke, args.preset, args.dtype, compile, args.stop_at),
    }
    for part in args.parts:
        began = time.perf_counter()
        runners[part]()
        print(f"[{part} took {time.perf_counter() - began:.1f} s]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
