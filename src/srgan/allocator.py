"""Keep freed memory in the process for the next step (glibc's malloc on Linux).

By default glibc gives every block above its mmap threshold (128 KiB at first) back to the operating system when it
is freed, and trims the heap's top as soon as 128 KiB are free there. A training or inference step frees and
allocates the same activations, megabytes each, every step, so every step faults their pages in afresh: on 2
cores the default pretraining step spends 7 to 10 % of its time so (measured: 103 against 96 ms). Allocating up
to 32 MiB (glibc's largest mmap threshold) from the heap and keeping up to 1 GiB free there makes the memory
reused instead; peak memory is the same. jemalloc or tcmalloc under LD_PRELOAD, which Intel's PyTorch CPU guide
recommends, do the same, but must be installed and preloaded before the process starts; mallopt(3) needs neither.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's maximum on 64-bit systems
TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> bool:
    """Set both thresholds; whether it could (glibc on Linux only: elsewhere nothing changes). Both together: set
    alone, either one is slower than the defaults (the other then stays small and fixed)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
