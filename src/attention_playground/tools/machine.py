"""The machine a figure was measured on, in the one line the scripts write beside their figures."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import torch


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name and its widest vector instructions (they change the 4th decimal), from
    Linux's `cpuinfo`; elsewhere what Python's platform module knows."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else None
    return f"{name}, {isa}" if isa else name


def today() -> str:
    """Today's date in UTC, as figures are dated: '2026-12-03'."""
    return time.strftime("%Y-%m-%d", time.gmtime())


def describe_machine(*, dated: bool = True) -> str:
    """Such as '2 threads on AMD EPYC 7B13, AVX2, torch 2.13.0, 2026-12-03' (the threads torch uses
    here, which OMP_NUM_THREADS sets; the date in UTC, left out with dated=False)."""
    machine = f"{torch.get_num_threads()} threads on {cpu_name()}, torch {torch.__version__}"
    return f"{machine}, {today()}" if dated else machine
