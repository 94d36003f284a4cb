"""scripts/gpu_check.sh on a CPU: it runs to the end, skips every GPU part and says which."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GPU_PARTS = (
    "nvidia-smi",
    "matmul rates: TF32 and bf16 on a GPU",
    "CUDA tests, skip lifted",
    "torchrun --nproc_per_node=1 over NCCL, --dtype auto --compile",
    "KV-cache sampling, lecture-sized model",
    "bench: lecture shape, float32 / auto / auto + compile",
    "lecture preset, 5000 steps",
    "lecture-fast preset to val <= 1.47",
)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_gpu_check_runs_on_a_cpu_and_says_what_it_skipped(tmp_path):
    report = tmp_path / "report.txt"
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path)}
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--cpu-smoke", str(report)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)  # fmt: skip
    try:
        printed, _ = proc.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        printed, _ = proc.communicate()
        pytest.fail(f"gpu_check.sh --cpu-smoke ran past 150 s:\n{printed[-3000:]}")
    assert proc.returncode == 0, printed[-3000:]
    text = report.read_text()
    assert text == printed, "the report is what it printed"
    assert "mode: CPU smoke (--cpu-smoke): every GPU part is skipped" in text
    summary = text.split("== summary")[1].splitlines()
    for name in GPU_PARTS:
        assert any(line.startswith(f"SKIPPED   {name}: ") for line in summary), name
    assert sum(line.startswith("ok ") for line in summary) == 2 and "FAILED" not in text
    assert "speed tiny shape, batch 16, dtype float32" in text and "first 32 tokens identical: True" in text
    assert "train tiny: val <= 4.0 at step 10" in text and "step    10: train " in text
    assert "best val loss" in text and "--- sample (20 tokens" in text, "torchrun over gloo trained"


def test_the_gpu_check_refuses_an_unknown_option():
    result = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--gpu"], capture_output=True,
                            text=True, timeout=30)  # fmt: skip
    assert result.returncode == 2 and "unknown option --gpu" in result.stderr
