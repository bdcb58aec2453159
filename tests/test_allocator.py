"""Tests for srgan.allocator: with it, a freed activation's memory stays in the heap for the next step."""

from __future__ import annotations

import subprocess
import sys

import pytest

# How many bytes glibc holds in mmap()ed blocks (mallinfo2's hblkhd) while a 16 MiB tensor is alive, in a fresh
# process: the allocator's settings are the process's for good.
PROBE = """
import ctypes, sys
import torch
from srgan.allocator import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

if sys.argv[1] == "keep":
    assert keep_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
before = libc.mallinfo2().hblkhd
activation = torch.empty(4 * 2**20)  # 16 MiB
print(libc.mallinfo2().hblkhd - before)
"""


def _mmapped_bytes(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True)
    if result.returncode and "mallinfo2" in result.stderr:
        pytest.skip("not glibc 2.33 or later: no mallinfo2 to look with")
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_with_it_a_16_mib_activation_comes_from_the_heap_not_from_mmap():
    assert _mmapped_bytes("default") >= 16 * 2**20  # glibc's default: mmap(), unmapped again when freed
    assert _mmapped_bytes("keep") == 0
