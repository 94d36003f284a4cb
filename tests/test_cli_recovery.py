"""A run and its folder under misuse: a changed text on --resume, a run folder where a file was
expected, damaged checkpoints, and SIGTERM. Each outcome is one line that says what to do.

(Failures and SIGTERM under torchrun are in test_distributed.py.)
"""

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attention_playground import load_checkpoint
from attention_playground.tools.cli import main

ROOT = Path(__file__).resolve().parents[1]
STEPS = 20  # the tiny preset evaluates (and saves ckpt.pt, then last.pt) once, at the end


def one_line(stderr: str, *fragments: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--preset", "tiny", "--data", str(data), "--out", str(out), "--no-progress",
            "--sample-tokens", "0", "--max-iters", str(STEPS), *extra]  # fmt: skip


def resume_args(run: Path | str, *extra: str) -> list[str]:
    return ["train", "--resume", str(run), "--no-progress", "--sample-tokens", "0", *extra]


@pytest.fixture
def run(tmp_path, shakespeare) -> tuple[Path, Path]:
    """A 20-step tiny run on 20,000 characters (a second of training): its text and its folder."""
    data, out = tmp_path / "play.txt", tmp_path / "run"
    data.write_text(shakespeare[:20_000], encoding="utf-8")
    assert main(train_args(data, out)) == 0
    return data, out


# 1. --resume trains on the text it began with ----------------------------------------------------


def test_the_checkpoint_records_its_text(run):
    data, out = run
    text = data.read_text(encoding="utf-8")
    for name in ("ckpt.pt", "last.pt"):
        corpus = load_checkpoint(out / name).run_info["corpus"]
        assert corpus["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
        assert (corpus["characters"], corpus["train_tokens"], corpus["val_tokens"]) == (20_000, 18_000, 2_000)


def test_resume_refuses_a_text_that_changed_even_in_order_alone(run, capsys):
    data, out = run
    original = data.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    random.Random(0).shuffle(lines)
    data.write_text("".join(lines), encoding="utf-8")  # the same characters, in another order
    before = (out / "last.pt").read_bytes()
    for extra in ([], ["--max-iters", str(STEPS + 5), "--change-settings"]):
        assert main(resume_args(out, *extra)) == 1
        one_line(
            capsys.readouterr().err,
            f"{data} is not the text {out / 'last.pt'} was trained on",
            "the same number of characters, 20,000",
            "--change-settings does not cover data",
        )
    assert (out / "last.pt").read_bytes() == before, "nothing was trained or saved"
    data.write_text(original + "More text.\n", encoding="utf-8")
    assert main(resume_args(out)) == 1
    one_line(capsys.readouterr().err, "20,000 characters then, 20,011 now", "train tokens then")
    data.write_text(original, encoding="utf-8")  # the text it began with: the run goes on
    assert main(resume_args(out, "--max-iters", str(STEPS + 5), "--change-settings")) == 0
    assert load_checkpoint(out / "last.pt").step == STEPS + 4


# 2. A run folder is taken where a checkpoint is asked for -----------------------------------------


def test_sample_and_resume_take_a_run_folder(run, tmp_path, capsys):
    _, out = run
    sample = ["sample", "--max-new-tokens", "30", "--prompt", "ROMEO:"]
    assert main([*sample, "--checkpoint", str(out)]) == 0
    from_folder = capsys.readouterr().out
    assert main([*sample, "--checkpoint", str(out / "ckpt.pt")]) == 0
    assert capsys.readouterr().out == from_folder and from_folder.startswith("ROMEO:")
    (out / "ckpt.pt").unlink()  # a folder without its best: sample takes last.pt
    assert main([*sample, "--checkpoint", str(out)]) == 0
    assert capsys.readouterr().out == from_folder, "the same weights: both saved after step 20"
    assert main(resume_args(out, "--max-iters", str(STEPS + 5), "--change-settings")) == 0
    assert f"resuming {out / 'last.pt'} after step {STEPS} of {STEPS}" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (["sample", "--checkpoint", str(empty)], resume_args(empty)):
        assert main(args) == 1
        one_line(capsys.readouterr().err, f"{empty} is a folder with no checkpoint in it")
    assert main([*resume_args(out), "--out", str(empty)]) == 1
    one_line(capsys.readouterr().err, "a run goes on in its own folder, so drop --out")


# 3. A damaged checkpoint gets a sentence -----------------------------------------------------------


def test_a_truncated_last_pt_names_the_good_ckpt_pt(run, capsys):
    _, out = run
    last, best = out / "last.pt", out / "ckpt.pt"
    last.write_bytes(last.read_bytes()[:3000])  # a copy that did not finish
    assert main(resume_args(out)) == 1
    line = one_line(
        capsys.readouterr().err,
        f"{last} is damaged: it was cut short or corrupted",
        f"{best} is good (saved after step {STEPS})",
        f"resume from it with --resume {best}",
    )
    assert "PytorchStreamReader" not in line and "miniz" not in line
    assert main([*resume_args(out), "--verbose"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "PytorchStreamReader failed reading zip archive" in err[1], (
        "--verbose: torch's words"
    )
    assert main(["sample", "--checkpoint", str(last), "--max-new-tokens", "5"]) == 1
    one_line(capsys.readouterr().err, f"sample from it with --checkpoint {best}")
    assert main(resume_args(best, "--max-iters", str(STEPS + 5), "--change-settings")) == 0  # as advised
    assert load_checkpoint(last).step == STEPS + 4, "last.pt is whole again"


def test_a_text_file_named_pt_is_not_a_checkpoint(tmp_path, capsys):
    text = tmp_path / "x.pt"
    text.write_text("ROMEO: these are my notes, not weights\n", encoding="utf-8")
    assert main(["sample", "--checkpoint", str(text)]) == 1
    line = one_line(capsys.readouterr().err, f"{text} is not a checkpoint")
    assert "KeyError" not in line
    empty = tmp_path / "ckpt.pt"
    empty.write_bytes(b"")
    assert main(["sample", "--checkpoint", str(tmp_path)]) == 1
    one_line(capsys.readouterr().err, f"{empty} is damaged: the file is empty")


# 4. SIGTERM stops training as Ctrl-C does, and saves first -----------------------------------------


def test_sigterm_saves_the_state_prints_one_line_and_exits_143(tmp_path, shakespeare):
    data, out = tmp_path / "play.txt", tmp_path / "run"
    data.write_text(shakespeare[:20_000], encoding="utf-8")
    args = train_args(data, out)
    args[args.index("--max-iters") + 1] = "1000000"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-u", "-m", "attention_playground", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout.readline().startswith("tiny preset:"), "training is about to start"
        time.sleep(0.5)  # some steps into the run
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 143, stderr
    line = one_line(stderr, "attention-playground train: terminated: saved the state after step ")
    step = int(line.split("after step ")[1].split()[0])
    assert f"in {out / 'last.pt'}: --resume continues from there" in line
    saved = load_checkpoint(out / "last.pt")
    assert saved.step == step - 1 and saved.trainer_state["history"]["eval_steps"][-1] == step - 1
    assert not stdout.strip(), "no report and no sample after a SIGTERM"
