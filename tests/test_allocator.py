"""keep_freed_memory: a large tensor allocated again meets pages it already touched, not fresh ones."""

import json
import platform
import subprocess
import sys

import pytest

from attention_playground.tools import cli as cli
from attention_playground.training.runtime import allocator as allocator

# In a fresh process (the setting is process-wide and for good): page faults while a 96 MB tensor,
# the GPT-2 model's logits, is made and filled, and then four times more, each after the last was freed.
REFILL = """
import json, resource, sys, torch
from attention_playground.training.runtime.allocator import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
def faults_to_fill():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(2048, 11706).fill_(1.0)  # made, filled, freed
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
first = faults_to_fill()
print(json.dumps({"kept": kept, "first": first, "again": [faults_to_fill() for _ in range(4)]}))
"""
PAGES = 2048 * 11706 * 4 // 4096  # the 4 KB pages of one such tensor


def refill(mode: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", REFILL, mode], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(result.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_a_freed_large_tensor_is_reused_without_page_faults():
    plain, kept = refill("plain"), refill("keep")
    assert min(plain["again"]) > PAGES // 2, f"glibc's default maps it afresh each time: {plain}"
    assert kept["kept"] is True
    # Kept: the heap settles within one more block (in about 1 run of 3 a small allocation lands
    # above the first, and a second 96 MB is taken once); after that every tensor reuses old pages.
    assert sum(kept["again"]) < PAGES + PAGES // 20, f"at most one more fresh block: {kept}"
    assert max(kept["again"][-2:]) < PAGES // 20, f"then no fresh pages at all: {kept}"


# In a fresh process: resident memory (MiB) once a kept 96 MB tensor is freed, and after trimming.
TRIM = """
import json, torch
from attention_playground.training.runtime.allocator import keep_freed_memory, trim_freed_memory
def rss_mib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))
keep_freed_memory()
torch.empty(2048, 11706).fill_(1.0)  # made, filled, freed: kept by the process
kept = rss_mib()
trimmed = trim_freed_memory()
print(json.dumps({"kept": kept, "trimmed": trimmed, "after": rss_mib()}))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_trim_hands_kept_memory_back():
    result = subprocess.run(
        [sys.executable, "-c", TRIM], capture_output=True, text=True, timeout=120, check=True
    )
    measured = json.loads(result.stdout)
    assert measured["trimmed"] is True
    assert measured["kept"] - measured["after"] > 80, f"the freed 91 MiB leave the process: {measured}"


def test_nothing_to_do_without_glibc(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False
    assert allocator.trim_freed_memory() is False


@pytest.mark.parametrize(("command", "kept"), [("train", True), ("bench", True), ("sample", False)])
def test_train_and_bench_keep_freed_memory_and_sample_does_not(monkeypatch, command, kept):
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(True) or True)
    ran = []
    for name in ("_train_on_every_rank", "_bench", "_sample"):
        monkeypatch.setattr(cli, name, lambda args, name=name: ran.append(name))
    argv = {"train": ["train"], "bench": ["bench"], "sample": ["sample", "--checkpoint", "ckpt.pt"]}[command]
    assert cli.main(argv) == 0
    assert len(ran) == 1 and bool(calls) == kept
