"""Keep freed memory in the process for the next step, instead of handing it back to the system.

PyTorch's CPU tensors come from the C library's malloc. glibc's malloc gives every block over its
threshold (at most 32 MB) a fresh mapping from the kernel and returns it on free, so the next
step's tensor of the same size meets untouched pages and takes a page fault for each 4 KB of them.
The GPT-2 model's logits, 2,048 positions x 11,706 tokens of float32, are 96 MB: a training step
of the `budget` preset took 100,000 page faults and 287 ms; with freed memory kept, none and
205 ms (docs/benchmarks.md). The numbers it computes do not change.

The CLI's `train` and `bench`, and the scripts that measure, call keep_freed_memory(); a notebook's
kernel is left as it is. It changes the whole process and cannot be undone: memory once used
stays with the process until it exits.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_MAX = -4
KEEP_UP_TO = 2**31 - 1  # bytes free at the heap's top before glibc gives any back (mallopt takes an int)


def keep_freed_memory() -> bool:
    """Make glibc's malloc serve every block from its heap and keep what is freed (Linux with glibc
    only); True if it now does, False where there is no such malloc (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, KEEP_UP_TO) == 1
