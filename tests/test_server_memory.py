"""glibc's mmap threshold, fixed for a server process (app/server_memory.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from app.server_memory import fix_mmap_threshold

# Frees a 4 MiB block (mmapped), then takes 200 KiB blocks: has the heap grown?
_PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from app.server_memory import fix_mmap_threshold
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    libc.sbrk.restype = ctypes.c_void_p
    libc.sbrk.argtypes = (ctypes.c_ssize_t,)
    if sys.argv[1] == "fixed":
        assert fix_mmap_threshold()
    libc.free(libc.malloc(4 * 1024 * 1024))
    before = libc.sbrk(0)
    blocks = [libc.malloc(200 * 1024) for _ in range(20)]
    print(libc.sbrk(0) - before)
    """
)


def _heap_growth(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(result.stdout)


def test_the_threshold_is_set_on_glibc() -> None:
    assert fix_mmap_threshold()


def test_a_freed_large_block_no_longer_moves_large_buffers_onto_the_heap() -> None:
    # Without the fix glibc raises its threshold to 4 MiB when the block is
    # freed, and the next 4 MiB of 200 KiB buffers come from the heap.
    assert _heap_growth("default") >= 10 * 200 * 1024
    # Fixed, they are mmapped (and given back when freed): the heap stays put.
    assert _heap_growth("fixed") < 200 * 1024
