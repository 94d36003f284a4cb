"""Nothing a learner made is ever lost: one run per folder, saves that fail in one line,
exact resume after a kill at any moment, streaming samples, and every bad option refused up front.

The subprocess tests run the real command line; each is bounded in time and kills what it starts.
"""

import dataclasses
import math
import os
import random
import re
import resource
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from attention_playground import (
    CheckpointError,
    ConfigError,
    DataError,
    ExtendedGPT,
    GPT2Tokenizer,
    GPTConfig,
    Splits,
    TokenizerError,
    TrainConfig,
    estimate_loss,
    generate,
    load_checkpoint,
    sample_text,
    save_checkpoint,
    train,
)
from attention_playground.files import atomic_write, folder_lock, stray_temporaries
from attention_playground.nn.sampling import stream_text
from attention_playground.tools.cli import main
from attention_playground.training.callbacks import SaveBestCheckpoint, SaveLatestCheckpoint
from attention_playground.training.trainer import Trainer

SMALL = GPTConfig(block_size=16, n_embd=32, n_head=4, n_layer=1, dropout=0.1)  # dropout: its RNG matters
QUICK = TrainConfig(
    batch_size=8, max_iters=30, eval_interval=10, eval_iters=2, learning_rate=3e-3, warmup=5,
    min_lr=3e-4, device="cpu",
)  # fmt: skip
STEPS = 200  # tiny preset: evaluations, each saving ckpt.pt (when best) then last.pt, after steps 100 and 200
ROOT = Path(__file__).resolve().parents[1]


def one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def cli_env() -> dict[str, str]:
    # One thread: as fast for the tiny preset, and no spinning threads slowing it on a busy machine.
    # Every run a test compares is started with this same environment, so the numbers agree.
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}


def run_cli(*args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "attention_playground", *args],
        capture_output=True, text=True, timeout=timeout, env=cli_env(), **kwargs,
    )  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, shakespeare) -> str:
    """The first 200,000 characters of Tiny Shakespeare: quicker to read and encode."""
    path = tmp_path_factory.mktemp("corpus") / "slice.txt"
    path.write_text(shakespeare[:200_000], encoding="utf-8")
    return str(path)


def train_args(corpus: str, out: Path, *extra: str) -> list[str]:
    return ["train", "--preset", "tiny", "--data", corpus, "--out", str(out), "--no-progress",
            "--sample-tokens", "0", "--max-iters", str(STEPS), *extra]  # fmt: skip


def results(stdout: str) -> list[str]:
    """The lines a run's outcome is read from: each evaluation and the best, without the timing."""
    lines = [line for line in stdout.splitlines() if line.startswith("step ")]
    best = [line.split(",")[0] for line in stdout.splitlines() if line.startswith("best val loss")]
    return lines + best


def same_weights(a: Path, b: Path) -> bool:
    sa, sb = load_checkpoint(a).model.state_dict(), load_checkpoint(b).model.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# 1. One run per folder ----------------------------------------------------------------------------


def test_two_trainings_into_one_folder_exactly_one_runs(corpus, tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "attention_playground", *train_args(corpus, out, "--seed", "1")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (out / ".lock").is_file() or (out / ".lock").read_text().strip() != str(first.pid):
            assert first.poll() is None and time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.05)
        began = time.monotonic()
        second = run_cli(*train_args(corpus, out, "--seed", "2"))
        assert time.monotonic() - began < 30, "the second run exits at once, it does not wait"
        assert first.poll() is None, "the first run was still going when the second gave up"
        assert second.returncode == 1 and second.stdout == ""
        one_line_error(second.stderr, "in use by another training", f"(PID {first.pid})")
        stdout, _ = first.communicate(timeout=120)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 0 and f"step {STEPS:5d}:" in stdout
    for name in ("ckpt.pt", "last.pt"):
        assert load_checkpoint(out / name).train_config.seed == 1, f"{name} belongs to the run that ran"


def test_the_lock_is_one_process_at_a_time_and_freed_at_the_end(tmp_path):
    with folder_lock(tmp_path):
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
        code = (
            "import sys; from attention_playground.files import folder_lock as f; f(sys.argv[1]).__enter__()"
        )
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                               env=cli_env(), timeout=60)  # fmt: skip
        assert (
            other.returncode == 1 and f"FolderBusy: {tmp_path} is in use by another training" in other.stderr
        )
    with folder_lock(tmp_path):  # released: this process (or any) takes it again
        pass


# 2. An --out that cannot be written, found before the first step ---------------------------------


def test_an_out_that_is_a_file_is_refused_at_once(corpus, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        result = run_cli(*train_args(corpus, out))
        assert result.returncode == 1 and not results(result.stdout)
        one_line_error(result.stderr, str(out.parent if out.name == "sub" else out))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_out_is_refused_at_once(corpus, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = run_cli(*train_args(corpus, out))
    finally:
        out.chmod(0o755)
    assert result.returncode == 1 and not results(result.stdout)
    one_line_error(result.stderr, f"cannot write into {out}", "choose a folder you can write to")


def test_a_read_only_filesystem_is_refused_at_once(corpus, tmp_path, capsys, monkeypatch):
    """As root can write into a chmod 555 folder, a read-only mount is what stops it: mkstemp says so."""
    import errno
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert main(train_args(corpus, tmp_path)) == 1
    captured = capsys.readouterr()
    assert not results(captured.out)
    one_line_error(captured.err, f"cannot write into {tmp_path} (Read-only file system)", "choose a folder")


def test_too_little_disk_is_refused_before_the_first_step(corpus, tmp_path, capsys, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 100_000))
    assert main(train_args(corpus, tmp_path / "run")) == 1
    captured = capsys.readouterr()
    assert not results(captured.out) and not list((tmp_path / "run").glob("*.pt"))
    one_line_error(captured.err, "0.1 MB free", "keeps 2 checkpoint(s)", "Free some disk space")


def _file_size_limit(limit: int):
    def apply() -> None:  # in the child: writes past `limit` bytes fail (EFBIG), as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_at_the_first_save_is_one_line(corpus, tmp_path):
    out = tmp_path / "run"
    result = run_cli(*train_args(corpus, out), preexec_fn=_file_size_limit(200_000))
    assert result.returncode == 1, result.stderr
    one_line_error(result.stderr, f"could not save {out / 'ckpt.pt'}: the disk is full", "nothing was saved")
    assert not list(out.glob("*.pt")) and not list(out.glob(".*.tmp")), "no half file, no temporary left"


def test_a_failed_later_save_keeps_the_last_good_checkpoint(
    shakespeare_splits, char_tokenizer, tmp_path, monkeypatch
):
    real_save, calls = torch.save, []

    def full_disk_at_the_third(obj, f, *args, **kwargs):  # ckpt@10, last@10, then ckpt@20 fails
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk_at_the_third)
    torch.manual_seed(0)
    best, last = tmp_path / "ckpt.pt", tmp_path / "last.pt"
    savers = [SaveBestCheckpoint(best, char_tokenizer), SaveLatestCheckpoint(last, char_tokenizer)]
    trainer = Trainer(ExtendedGPT(SMALL), shakespeare_splits, QUICK, callbacks=savers)
    with pytest.raises(CheckpointError) as error:
        trainer.run()
    message = str(error.value)
    assert message.startswith(f"could not save {best}: the disk is full") and "\n" not in message
    assert "free some disk space" in message and "it still holds the last good checkpoint" in message
    assert "enforce fail" not in message and not list(tmp_path.glob(".*.tmp"))
    assert load_checkpoint(best).step == 9 and load_checkpoint(last).step == 9


# 3.-5. Options refused up front, or taken ----------------------------------------------------------


def test_a_learning_rate_below_the_presets_min_lr_is_taken(corpus, tmp_path, capsys):
    args = train_args(corpus, tmp_path)
    args[args.index("--max-iters") + 1] = "1"
    assert main([*args, "--learning-rate", "1e-4"]) == 0, capsys.readouterr().err
    config = load_checkpoint(tmp_path / "ckpt.pt").train_config
    assert config.learning_rate == 1e-4 and config.min_lr == pytest.approx(1e-5), "the preset's ratio"
    with pytest.raises(ConfigError, match="learning_rate=nan must be a finite number"):
        TrainConfig(learning_rate=math.nan)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["sample", "--checkpoint", "x.pt", "--temperature", "nan"],
            "--temperature: must be a finite number",
        ),
        (
            ["sample", "--checkpoint", "x.pt", "--temperature", "inf"],
            "--temperature: must be a finite number",
        ),
        (["train", "--learning-rate", "inf"], "--learning-rate: must be a finite number"),
        (["train", "--seed", str(2**64)], "--seed: must be <= 2**64 - 1"),
        (["sample", "--checkpoint", "x.pt", "--seed", str(2**64)], "--seed: must be <= 2**64 - 1"),
        (["sample", "--checkpoint", "x.pt", "--seed", "-1"], "--seed: must be >= 0"),
    ],
)
def test_nan_inf_and_huge_seeds_are_refused_by_the_parser(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    one_line_error(capsys.readouterr().err, message)


@pytest.mark.parametrize("temperature", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_temperatures_are_refused_by_the_library(char_tokenizer, temperature):
    model = ExtendedGPT(dataclasses.replace(SMALL, dropout=0.0))
    with pytest.raises(ConfigError, match="must be >= 0 and finite"):
        sample_text(model, char_tokenizer, "a", 5, temperature=temperature)
    with pytest.raises(ConfigError, match="must be >= 0 and finite"):
        generate(model, torch.zeros(1, 1, dtype=torch.long), 5, temperature=temperature)


@pytest.mark.parametrize("seed", [2**64, -1])
def test_seeds_torch_refuses_are_refused_in_the_library(char_tokenizer, seed):
    with pytest.raises(ConfigError, match="must be a whole number from 0 to 2\\*\\*64 - 1"):
        TrainConfig(seed=seed)
    with pytest.raises(ConfigError, match="must be a whole number from 0 to 2\\*\\*64 - 1"):
        sample_text(ExtendedGPT(SMALL), char_tokenizer, "a", 5, seed=seed)
    assert len(sample_text(ExtendedGPT(SMALL), char_tokenizer, "a", 5, seed=2**64 - 1)) == 6, (
        "the largest works"
    )


def test_the_largest_seed_trains_and_samples(corpus, tmp_path, capsys):
    args = train_args(corpus, tmp_path, "--seed", str(2**64 - 1))
    args[args.index("--max-iters") + 1] = "1"
    assert main(args) == 0
    sample = [
        "sample",
        "--checkpoint",
        str(tmp_path / "ckpt.pt"),
        "--max-new-tokens",
        "5",
        "--seed",
        str(2**64 - 1),
    ]
    assert main(sample) == 0, capsys.readouterr().err


# 6. Streaming samples ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained")
    args = train_args(corpus, out)
    args[args.index("--max-iters") + 1] = "20"
    assert main(args) == 0
    return out / "ckpt.pt"


def test_sample_streams_and_ctrl_c_keeps_what_was_printed(checkpoint):
    args = ["sample", "--checkpoint", str(checkpoint), "--max-new-tokens", str(10**9), "--prompt", "ROMEO:"]
    process = subprocess.Popen([sys.executable, "-u", "-m", "attention_playground", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())  # fmt: skip
    try:
        printed, deadline = b"", time.monotonic() + 60
        while len(printed) < 300:  # text arrives while the billion tokens are being made
            assert time.monotonic() < deadline and process.poll() is None, "no text came while sampling"
            if select.select([process.stdout], [], [], 0.5)[0]:
                printed += os.read(process.stdout.fileno(), 4096)
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    out, err = (printed + rest).decode(), err.decode()
    assert process.returncode == 130
    assert out.startswith("ROMEO:") and out.endswith("\n") and len(out) > 300, "what was printed stays"
    one_line_error(err, "attention-playground sample: interrupted")
    assert "checkpoint" not in err


def test_stream_text_joins_to_sample_text(char_tokenizer):
    torch.manual_seed(0)
    model = ExtendedGPT(dataclasses.replace(SMALL, dropout=0.0))
    pieces = list(stream_text(model, char_tokenizer, "ROMEO:", 40, seed=3))
    assert pieces[0] == "ROMEO:" and len(pieces) == 41
    assert "".join(pieces) == sample_text(model, char_tokenizer, "ROMEO:", 40, seed=3)
    with pytest.raises(ConfigError):  # refused when called, not when first read
        stream_text(model, char_tokenizer, "a", 5, temperature=math.nan)


def test_gpt2_streaming_never_splits_a_character():
    from attention_playground.nn.sampling import _pieces

    tokenizer = GPT2Tokenizer()
    text = "naïve🦜字 ok"
    ids = tokenizer.encode(text)
    assert any("\ufffd" in tokenizer.decode([i]) for i in ids), "some token ends inside a character"
    pieces = list(_pieces(tokenizer, "", iter(torch.tensor([[i]]) for i in ids)))
    assert "".join(pieces) == text and not any("\ufffd" in piece for piece in pieces)


def test_sampling_keeps_only_a_block_of_context():
    """Any --max-new-tokens is safe: the loop's context never grows past block_size."""
    from attention_playground.nn.sampling import stream_tokens

    model = ExtendedGPT(dataclasses.replace(SMALL, dropout=0.0))
    tokens = stream_tokens(model, torch.zeros(1, 1, dtype=torch.long), 10**12, temperature=0)
    for _ in range(5 * SMALL.block_size):
        next(tokens)
    context = tokens.gi_frame.f_locals["idx"]
    assert context.shape == (1, SMALL.block_size)


# 7. --resume takes the checkpoint's own settings --------------------------------------------------


def test_resume_takes_the_checkpoints_preset_and_settings(corpus, tmp_path, capsys):
    args = train_args(corpus, tmp_path)
    args[args.index("--max-iters") + 1] = "20"
    assert main(args) == 0
    capsys.readouterr()
    resume = ["train", "--resume", "--out", str(tmp_path), "--no-progress", "--sample-tokens", "0"]
    assert main(resume) == 0  # no --preset, no --data: the checkpoint's own
    out = capsys.readouterr().out
    assert "tiny preset: 0.11M parameters" in out and "cpu preset" not in out
    assert "20 steps" in out and load_checkpoint(tmp_path / "last.pt").train_config.max_iters == 20
    refused = [
        (["--learning-rate", "0.01"], "--learning-rate 0.01"),
        (["--max-iters", "40"], "--max-iters 40"),
        (["--preset", "cpu"], "--preset tiny"),
    ]
    for extra, option in refused:
        assert main([*resume, *extra]) == 1
        one_line_error(capsys.readouterr().err, option, "--resume continues")
    assert main([*resume, "--max-iters", "40", "--change-settings"]) == 0
    assert load_checkpoint(tmp_path / "last.pt").step == 39 and "step    40:" in capsys.readouterr().out


def test_contradicting_flags_are_refused_before_the_folder_is_touched(tmp_path, capsys):
    for args, message in [
        (["--resume", "--force"], "pass one of them"),
        (["--change-settings"], "only goes with --resume"),
        (["--resume"], "there is no run in"),
    ]:
        assert main(["train", "--out", str(tmp_path / "none"), *args]) == 1
        one_line_error(capsys.readouterr().err, message)
    assert not (tmp_path / "none").exists()


# 8. Exact resume ---------------------------------------------------------------------------------


class StopAfter:
    def __init__(self, step: int):
        self.step = step

    def on_step(self, trainer, step, loss):
        if trainer.step == self.step:
            trainer.request_stop()


def test_a_resumed_run_is_the_run_it_continues(shakespeare_splits, char_tokenizer, tmp_path):
    """Batches and dropout depend only on saved state: the same losses and weights, to the bit."""
    torch.manual_seed(0)
    whole = Trainer(ExtendedGPT(SMALL), shakespeare_splits, QUICK)
    whole.run()
    torch.manual_seed(0)
    last = tmp_path / "last.pt"
    savers = [SaveLatestCheckpoint(last, char_tokenizer), StopAfter(20)]
    cut = Trainer(ExtendedGPT(SMALL), shakespeare_splits, QUICK, callbacks=savers)
    cut.run()
    torch.manual_seed(123)  # whatever happened since, in this process
    torch.rand(1000)
    resumed = Trainer(ExtendedGPT(SMALL), shakespeare_splits, QUICK, resume=last)
    resumed.run()
    assert resumed.history.step_losses == whole.history.step_losses
    assert resumed.history.val_loss == whole.history.val_loss and resumed.history.eval_steps == [9, 19, 29]
    for a, b in zip(resumed.model.parameters(), whole.model.parameters(), strict=True):
        assert torch.equal(a, b)


# The kill test: SIGKILL the command line at random moments and inside saves, resume, compare.
SLOW_SAVE = """
import os, sys, time, torch
real_save, calls = torch.save, []
def save(obj, f, *args, **kwargs):  # the N-th save writes its temporary file, then hangs there
    real_save(obj, f, *args, **kwargs)
    calls.append(1)
    if len(calls) == int(os.environ["SLOW_SAVE_AT"]):
        f.flush()
        open(os.environ["SLOW_SAVE_MARK"], "w").close()
        time.sleep(600)
torch.save = save
from attention_playground.tools.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _start(corpus: str, out: Path, save_at: int | None = None) -> subprocess.Popen:
    """A training into `out`, resuming what is there; with save_at, it hangs inside that save."""
    args = train_args(corpus, out)
    if (out / "ckpt.pt").exists() or (out / "last.pt").exists():
        args = ["train", "--resume", "--out", str(out), "--no-progress", "--sample-tokens", "0"]
    if save_at is None:
        command = [sys.executable, "-m", "attention_playground", *args]
        env = cli_env()
    else:
        command = [sys.executable, "-c", SLOW_SAVE, *args]
        env = {**cli_env(), "SLOW_SAVE_AT": str(save_at), "SLOW_SAVE_MARK": str(out.parent / "mark")}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=300)  # seconds on an idle machine; room for a busy one
    assert process.returncode == 0, stderr
    return stdout


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)


def test_a_run_killed_anywhere_and_resumed_ends_as_an_uninterrupted_one(corpus, tmp_path):
    began = time.monotonic()
    reference = tmp_path / "reference" / "out"
    expected = results(_finish(_start(corpus, reference)))
    assert (
        len(expected) == 3 and expected[-1].startswith("best val loss") and expected[-1].endswith("step 200")
    )
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    # Inside saves: the first (ckpt.pt after step 100: nothing on disk yet), ckpt.pt after step 200
    # (last.pt still at step 100), and last.pt after step 200 (ckpt.pt already at step 200).
    for case, save_at in [("save-1", 1), ("save-3", 3), ("save-4", 4)]:
        out = tmp_path / case / "out"
        out.mkdir(parents=True)
        process = _start(corpus, out, save_at)
        try:
            deadline = time.monotonic() + 90
            while not (out.parent / "mark").exists():
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
                time.sleep(0.02)
            _kill(process)
        finally:
            process.kill()
        assert stray_temporaries(out / ("ckpt.pt" if save_at % 2 else "last.pt")), "killed inside the save"
        final = _finish(_start(corpus, out))
        assert results(final) == expected, case
        assert "removed 1 temporary file(s)" in final and not list(out.glob(".*.tmp"))
        assert same_weights(out / "ckpt.pt", reference / "ckpt.pt"), case
    # At random moments, twice in one run, then to the end: anywhere in the first seconds (before
    # or after the first save), then somewhere after an evaluation has saved last.pt.
    out = tmp_path / "random" / "out"
    for wait_for_a_save in (False, True):
        process = _start(corpus, out)
        try:
            while wait_for_a_save and not (out / "last.pt").exists() and process.poll() is None:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 1.5) if wait_for_a_save else rng.uniform(0.5, 3.5))
            _kill(process)
        finally:
            process.kill()
    assert results(_finish(_start(corpus, out))) == expected, f"random kill points (seed {seed})"
    assert same_weights(out / "last.pt", reference / "last.pt"), f"seed {seed}"
    print(f"kill test: {time.monotonic() - began:.1f} s")


# 9. Stray temporary files and the umask -----------------------------------------------------------


def test_a_killed_saves_temporary_files_are_removed_at_the_next_start(corpus, tmp_path, capsys):
    ours = [tmp_path / ".ckpt.pt.ab_cd123.tmp", tmp_path / ".last.pt.zz9y8x7w.tmp"]
    not_ours = [tmp_path / ".ckpt.pt.backup.tmp", tmp_path / "notes.tmp", tmp_path / ".other.pt.ab_cd123.tmp"]
    for path in ours + not_ours:
        path.write_bytes(b"x" * 100)
    args = train_args(corpus, tmp_path)
    args[args.index("--max-iters") + 1] = "1"
    assert main(args) == 0
    assert "removed 2 temporary file(s)" in capsys.readouterr().out
    assert not any(p.exists() for p in ours) and all(p.exists() for p in not_ours)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_checkpoints_follow_the_umask(tmp_path, char_tokenizer, umask, mode):
    old = os.umask(umask)
    try:
        path = save_checkpoint(tmp_path / "ckpt.pt", ExtendedGPT(SMALL), char_tokenizer)
        with atomic_write(tmp_path / "other.bin") as f:
            f.write(b"data")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode and (tmp_path / "other.bin").stat().st_mode & 0o777 == mode


# 10. Small ones ----------------------------------------------------------------------------------


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_checkpoint_error_never_advises_weights_only_false(tmp_path, capsys):
    bomb = tmp_path / "bomb.pt"
    torch.save({"format_version": 1, "state_dict": RunsCode()}, bomb)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(bomb)
    message, detail = str(error.value), error.value.detail
    assert "weights_only" not in message + detail and "trusted" not in message + detail
    assert "is not a checkpoint of this course: it holds objects other than tensors" in message
    assert "posix.system" in detail, "what torch refused, for --verbose"
    assert main(["sample", "--checkpoint", str(bomb)]) == 1
    err = capsys.readouterr().err
    one_line_error(err, "is not a checkpoint of this course")
    assert main(["sample", "--checkpoint", str(bomb), "--verbose"]) == 1
    err = capsys.readouterr().err
    assert "posix.system" in err and "weights_only" not in err


def test_the_interrupt_message_has_its_own_line(corpus, tmp_path, capsys, monkeypatch):
    real_step = Trainer.train_step

    def interrupted_at_step_5(self):
        if self.step == 5:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(Trainer, "train_step", interrupted_at_step_5)
    args = [a for a in train_args(corpus, tmp_path) if a != "--no-progress"]
    assert main(args) == 130
    err = capsys.readouterr().err
    assert "training on cpu" in err, "the progress bar was drawn"
    assert re.search(
        r"(^|\n)attention-playground train: interrupted: the best checkpoint so far is kept", err
    )


def test_generate_refuses_an_empty_context_and_unknown_ids():
    model = ExtendedGPT(SMALL)
    with pytest.raises(ConfigError, match="T >= 1"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 5)
    for bad in (65, -1):
        with pytest.raises(TokenizerError, match=f"token id {bad} is outside the model's vocabulary"):
            generate(model, torch.tensor([[0, bad]]), 5)


def test_estimate_loss_says_what_is_wrong(shakespeare_splits):
    model = ExtendedGPT(SMALL)
    with pytest.raises(ConfigError, match="eval_iters=0 must be a whole number >= 1"):
        estimate_loss(model, shakespeare_splits, 8, 16, 0)
    short = Splits(shakespeare_splits.train, shakespeare_splits.val[:10])
    with pytest.raises(DataError, match="the validation split has 10 tokens"):
        estimate_loss(model, short, 8, 16, 2)


def test_train_refuses_to_overwrite_a_checkpoint_unless_asked(shakespeare_splits, char_tokenizer, tmp_path):
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"precious")
    config = dataclasses.replace(QUICK, max_iters=10)
    with pytest.raises(CheckpointError, match="already holds a checkpoint: pass overwrite=True"):
        train(ExtendedGPT(SMALL), shakespeare_splits, config, tokenizer=char_tokenizer, checkpoint_path=path)
    assert path.read_bytes() == b"precious"
    train(
        ExtendedGPT(SMALL),
        shakespeare_splits,
        config,
        tokenizer=char_tokenizer,
        checkpoint_path=path,
        overwrite=True,
    )
    assert load_checkpoint(path).step == 9


def test_force_replaces_the_previous_run(corpus, tmp_path, capsys):
    args = train_args(corpus, tmp_path)
    args[args.index("--max-iters") + 1] = "1"
    assert main(args) == 0
    assert main(args) == 1 and "already holds a checkpoint" in capsys.readouterr().err
    assert main([*args, "--force", "--seed", "7"]) == 0
    assert load_checkpoint(tmp_path / "ckpt.pt").train_config.seed == 7
