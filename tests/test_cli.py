import re
import subprocess
import sys
from pathlib import Path

import pytest

from attention_playground import GPT2Tokenizer
from attention_playground.data.corpus import load_corpus
from attention_playground.data.tokenizers import characters_per_token
from attention_playground.tools.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "attention_playground", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "--preset", "tiny", "--max-iters", "40", "--out", str(out), "--no-progress",
                 "--sample-tokens", "50"])  # fmt: skip
    assert code == 0
    return str(out)


def test_train_prints_losses_and_a_sample(tmp_path, capsys):
    code = main(["train", "--preset", "tiny", "--max-iters", "20", "--out", str(tmp_path), "--no-progress",
                 "--sample-tokens", "40"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "tiny preset:" in printed and "char tokenizer (vocab 65)" in printed
    assert "best val loss" in printed and "--- sample (40 tokens" in printed
    assert (tmp_path / "ckpt.pt").is_file()


def test_an_existing_checkpoint_is_not_overwritten(trained, capsys):
    before = Path(trained, "ckpt.pt").read_bytes()
    code = main(["train", "--preset", "tiny", "--max-iters", "5", "--out", trained, "--no-progress"])
    assert code == 1
    assert "already holds a checkpoint: pass --resume" in capsys.readouterr().err
    assert Path(trained, "ckpt.pt").read_bytes() == before


def test_sample_continues_the_prompt(trained, capsys):
    args = ["sample", "--checkpoint", f"{trained}/ckpt.pt", "--prompt", "ROMEO:", "--max-new-tokens", "30"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("ROMEO:") and len(first.rstrip("\n")) >= 30
    assert main(args + ["--no-cache"]) == 0
    assert main(args) == 0
    assert capsys.readouterr().out.split("ROMEO:")[-1] == first.split("ROMEO:")[-1], "same seed, same text"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["sample", "--checkpoint", "x.pt", "--max-new-tokens", "-5"],
            "argument --max-new-tokens: must be >= 0",
        ),
        (["sample", "--checkpoint", "x.pt", "--temperature", "hot"], "'hot' is not a number"),
        (["train", "--preset", "huge"], "argument --preset: invalid choice: 'huge'"),
        (["train", "--max-iters", "0"], "argument --max-iters: must be >= 1"),
        (["train", "--tokenizer", "bpe"], "argument --tokenizer: invalid choice"),
        (["train", "--minutes", "0"], "argument --minutes: must be > 0"),
    ],
)
def test_bad_option_values_exit_with_one_readable_line(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_bad_inputs_exit_with_one_readable_line(trained, tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"caf\xe9")
    truncated = tmp_path / "ckpt.pt"
    truncated.write_bytes(Path(trained, "ckpt.pt").read_bytes()[:1000])
    cases = [
        (["train", "--data", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "a")], "no such file"),
        (["train", "--data", str(bad), "--out", str(tmp_path / "b")], "is not UTF-8 text"),
        (["sample", "--checkpoint", f"{trained}/ckpt.pt", "--prompt", "ROMÉO"], "character 'É'"),
        (["sample", "--checkpoint", str(truncated)], "is damaged: it was cut short or corrupted"),
    ]
    for args, message in cases:
        result = run_cli(*args)
        assert result.returncode == 1, result.stderr
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_help_explains_every_option():
    result = run_cli("train", "--help")
    assert result.returncode == 0
    for option in ("--preset", "--data", "--tokenizer", "--out", "--resume", "--device", "--max-iters"):
        assert option in result.stdout
    sample = run_cli("sample", "--help").stdout
    for option in ("--checkpoint", "--prompt", "--max-new-tokens", "--temperature", "--top-k", "--seed"):
        assert option in sample


def test_minutes_trains_for_that_long_and_prints_the_best_val_loss(tmp_path, capsys):
    code = main(["train", "--preset", "tiny", "--minutes", "0.03", "--out", str(tmp_path), "--no-progress",
                 "--sample-tokens", "30"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "tiny preset:" in printed and "0.03 minutes" in printed
    assert "\nbest val loss " in printed and "--- sample (30 tokens" in printed
    assert (tmp_path / "ckpt.pt").is_file()


@pytest.mark.parametrize(("tokenizer", "preset"), [("char", "budget"), ("gpt2", "budget-gpt2")])
def test_minutes_without_a_preset_is_the_budget_recipe_for_the_tokenizer(
    tmp_path, capsys, monkeypatch, tokenizer, preset
):
    import attention_playground.training.budget as budget
    from attention_playground import PRESETS, PlaygroundError

    asked = {}

    def fake_timed_run(config, splits, seconds, block_size, **kwargs):  # records, trains nothing
        asked.update(config=config, seconds=seconds, block_size=block_size)
        raise PlaygroundError("stopped by the test")

    monkeypatch.setattr(budget, "timed_run", fake_timed_run)
    argv = ["train", "--minutes", "5", "--tokenizer", tokenizer, "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 1
    assert f"{preset} preset:" in capsys.readouterr().out
    assert asked["seconds"] == 300 and asked["config"] == PRESETS[preset].train
    assert asked["block_size"] == PRESETS[preset].model_config(65).block_size
    assert (tmp_path.parent / f"{preset}-{tokenizer}").exists() is False  # --out, not the default folder


def test_minutes_takes_no_step_count_and_no_resume(tmp_path, capsys):
    for extra in (["--max-iters", "5"], ["--resume"]):
        assert main(["train", "--minutes", "1", "--out", str(tmp_path), *extra]) == 1
        assert "--minutes lays one schedule over the time it gives" in capsys.readouterr().err


def test_gpt2_trains_on_the_tokens_the_text_uses(tmp_path, shakespeare):
    data = tmp_path / "play.txt"
    data.write_text(shakespeare[:30_000], encoding="utf-8")
    out = tmp_path / "run"
    common = ("--preset", "tiny", "--data", str(data), "--out", str(out), "--no-progress")
    result = run_cli("train", *common, "--tokenizer", "gpt2", "--max-iters", "4", "--sample-tokens", "10")
    assert result.returncode == 0, result.stderr
    vocab = len(set(GPT2Tokenizer().encode(shakespeare[:30_000])))
    assert f"gpt2 tokenizer (vocab {vocab:,})" in result.stdout
    best = re.search(r"best val loss (\d+\.\d+) \((\d+\.\d+) per character\)", result.stdout)
    corpus = load_corpus(data, "gpt2")  # per character of the val split, not of the whole text
    val_chars_per_token = characters_per_token(corpus.tokenizer, corpus.splits.val)
    assert float(best[2]) == pytest.approx(float(best[1]) / val_chars_per_token, abs=2e-4)
    unknown = run_cli("sample", "--checkpoint", f"{out}/ckpt.pt", "--prompt", "my smartphone")
    assert unknown.returncode == 1 and len(unknown.stderr.strip().splitlines()) == 1
    assert "GPT-2 token ' smartphone'" in unknown.stderr and "--tokenizer gpt2-full" in unknown.stderr
    resumed = run_cli("train", *common, "--tokenizer", "gpt2-full", "--resume")
    assert resumed.returncode == 1 and "with --tokenizer gpt2, not gpt2-full" in resumed.stderr


def test_a_timed_run_resumes_for_a_number_of_steps(tmp_path, capsys):
    from attention_playground.training.checkpoint import load_checkpoint

    common = ["train", "--preset", "tiny", "--out", str(tmp_path), "--no-progress", "--sample-tokens", "0"]
    assert main([*common, "--minutes", "0.01"]) == 0
    capsys.readouterr()
    assert main([*common, "--resume"]) == 1
    assert "a run that --minutes timed: continue it for a number of steps" in capsys.readouterr().err
    done = load_checkpoint(tmp_path / "last.pt").step + 1
    assert main([*common, "--resume", "--max-iters", str(done + 3), "--change-settings"]) == 0
    assert f"resuming {tmp_path / 'last.pt'} after step {done} of a --minutes run" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "last.pt").step + 1 == done + 3
