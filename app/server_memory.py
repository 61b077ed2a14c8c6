"""Keep a long-running server process's memory from creeping up under mixed traffic.

glibc's malloc hands out blocks above a threshold (128 KiB) with ``mmap`` and
gives them back to the system when they are freed. But each time such a block
is freed, glibc raises the threshold to that block's size (up to 32 MiB), so
later large buffers come from the heap instead, where freed space between live
objects cannot be given back. Under a mix of pages and API lists of different
sizes, a mod_wsgi daemon grew in steps of about 1.8 MiB, from 73 to over 80 MiB,
and was still growing when the load stopped; with the threshold fixed it stayed
at 73 (``make bench``'s routes, 2 processes x 5 threads). Setting the threshold
explicitly turns glibc's adjustment off, for this process only.
"""

from __future__ import annotations

import ctypes

# mallopt's parameter number for the mmap threshold (malloc.h).
M_MMAP_THRESHOLD = -3
# glibc's own starting value: only its upward drift is given up.
MMAP_THRESHOLD = 128 * 1024


def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at 128 KiB for this process; False without glibc."""
    try:
        # The process's own symbols: the C library it runs on.
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt), or no dlopen
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
