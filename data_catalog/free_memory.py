"""Hand the C heap's free pages back to the OS between the stages of a long video.

glibc keeps memory that was freed inside its heaps resident: after Video2RMS's motion features
(thousands of chunks of frames, flow fields and flow images, allocated and freed in four threads)
tens of MB stay resident that nothing uses, while the arrays that come next (the model's outputs:
115 MB for an hour) are larger than glibc's mmap threshold, get pages of their own and cannot reuse
them. ``malloc_trim(0)`` releases them (39 MB lower peak on a 3-minute run, docs/SPEED.md). Other
C libraries (musl, macOS) have no such call: there it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

__all__ = ["release_free_heap"]


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_free_heap() -> bool:
    """Return the free pages of every malloc arena to the OS (glibc); True when that was done."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
