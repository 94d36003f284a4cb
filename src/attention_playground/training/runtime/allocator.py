"""Keep freed memory in the process for the next step, instead of handing it back to the system.

PyTorch's CPU tensors come from the C library's malloc. glibc's malloc gives every block over its
threshold (at most 32 MB) a fresh mapping from the kernel and returns it on free, so the next
step's tensor of the same size meets untouched pages and takes a page fault for each 4 KB of them.
The GPT-2 model's logits, 2,048 positions x 11,706 tokens of float32, are 96 MB: a training step
of the `budget` preset took 100,000 page faults and 287 ms; with freed memory kept, none and
205 ms (docs/benchmarks.md). The numbers it computes do not change.

The CLI's `train` and `bench`, and the scripts that measure, call keep_freed_memory(); a notebook's
kernel is left as it is. It changes the whole process for good: memory once used stays with the
process until it exits, or until trim_freed_memory() hands the free part back (the bench does, so
that each run's peak memory counts only what that run needs).
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_MAX = -4
KEEP_UP_TO = 2**31 - 1  # bytes free at the heap's top before glibc gives any back (mallopt takes an int)


def _glibc() -> ctypes.CDLL | None:
    """The C library, where it is glibc (Linux); None elsewhere (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Make glibc's malloc serve every block from its heap and keep what is freed (Linux with glibc
    only); True if it now does, False where there is no such malloc (macOS, Windows, musl)."""
    mallopt = getattr(_glibc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, KEEP_UP_TO) == 1


def trim_freed_memory() -> bool:
    """Hand the heap's freed memory back to the system now (glibc's malloc_trim), whatever
    keep_freed_memory() set; True if some was handed back, False if none was or there is no glibc."""
    malloc_trim = getattr(_glibc(), "malloc_trim", None)
    if malloc_trim is None:
        return False
    malloc_trim.argtypes, malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    return malloc_trim(0) == 1
