"""describe_machine: the one line the scripts write beside their figures."""

import platform
import re

import torch

from attention_playground.tools.machine import cpu_name, describe_machine

CPUINFO = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 {flags}\n\nprocessor\t: 1\n"


def test_the_line_gives_threads_cpu_torch_and_the_date():
    line = describe_machine()
    undated, date = line.rsplit(", ", 1)
    assert undated == f"{torch.get_num_threads()} threads on {cpu_name()}, torch {torch.__version__}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", date)
    assert describe_machine(dated=False) == undated


def test_cpu_name_adds_the_widest_vector_instructions(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    for flags, name in (
        ("avx2 avx512f avx512bw", "AMD EPYC 7B13, AVX-512"),
        ("avx avx2 fma", "AMD EPYC 7B13, AVX2"),
        ("avx", "AMD EPYC 7B13"),
    ):
        cpuinfo.write_text(CPUINFO.format(flags=flags))
        assert cpu_name(cpuinfo) == name


def test_cpu_name_without_cpuinfo_asks_python(tmp_path):
    assert cpu_name(tmp_path / "absent") == (platform.processor() or platform.machine())
