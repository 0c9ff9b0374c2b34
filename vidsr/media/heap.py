"""Make encoders' output repeatable: fresh heap memory gets a fixed byte pattern instead of leftovers.

libx264's lookahead with B-frames and macroblock-tree rate control reads heap memory it never wrote
(measured: the same 120 frames encoded twice in one process, one thread, preset medium, differed from the
first packet on 3 of 3 tries; with ``bframes=0`` or ``mbtree=0`` they were equal, and so they were once
glibc filled every allocation with a pattern). What that memory held before depended on what ran earlier
in the process, so "same input, same command, same bytes" failed at random, and with it byte-equal
resume and ``--ray`` joins. glibc's ``M_PERTURB`` fills each allocation and each freed block with a fixed
pattern, which makes the read repeatable; the cost is a memset per malloc/free. Linux/glibc only; a no-op
elsewhere.
"""

from __future__ import annotations

import ctypes
import sys
from functools import lru_cache

__all__ = ["fill_fresh_memory"]

M_PERTURB = -6
PATTERN = 0xA5


@lru_cache(maxsize=1)
def fill_fresh_memory() -> bool:
    """Turn glibc's allocation pattern on for this process (once); True if it took effect."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_PERTURB, PATTERN))
