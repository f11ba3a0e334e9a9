"""Large blocks from their own memory maps, so that a freed array goes back to the system at once.

glibc serves a request of at least M_MMAP_THRESHOLD bytes (128 KiB at start) from a memory map of its own, and
unmaps it when it is freed. But each time such a block is freed, glibc raises the threshold to the block's size
(up to 32 MiB), so that later arrays of that size come from the heap, where freed space stays in the process
(its RSS) until the heap's top is free. A command that frees arrays of tens of MB and then allocates others
(`snncc map` frees the float weights once quantized, each packing frees the last) keeps that space counted as its
own. Setting the threshold fixes it at 128 KiB: every array above it is mapped and unmapped on its own. Elsewhere
than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024


def map_large_blocks() -> bool:
    """Fix glibc's mmap threshold at 128 KiB for this process; False where there is no glibc `mallopt`."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:
        return False
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
